"""Runs the statements of SQL files in order against a ClickHouse engine, stopping at the first
one that fails (see scripts/chdb-check.sh, which prepares the Python environment, and
docs/clickhouse.md).

Engines:
  chdb     (default) the current ClickHouse embedded in the `chdb` package, one in-process
           session for all the files
  server   a running ClickHouse server over HTTP (the 18.16 server of scripts/clickhouse.sh),
           one request per statement, all in one HTTP session

Both run the files in a throwaway database, created first and dropped at the end, which is the
current database of the statements: unqualified table names land there.

File format: statements end with `;` at the end of a line (trailing blanks allowed); `--`
comment lines are allowed anywhere and are not terminators; text after the last `;` is one more
statement. `SET` and `USE` statements hold for the statements after them: each engine runs all
the files in one session.

Exit status: 0 when every statement ran, 1 when one failed (the file, its line, the statement's
number and the engine's error are printed), 2 on a usage or setup error.
"""

import argparse
import http.client
import os
import re
import signal
import socket
import sys
import time
import urllib.parse
import uuid

# A statement that runs longer is cancelled by the engine itself (max_execution_time); the
# server engine gives up this much later if the server does not answer at all.
DEFAULT_TIMEOUT_S = 300
CLIENT_GRACE_S = 30


class Statement:
    """One statement of a file: its text (without the final `;`) and where it starts."""

    def __init__(self, path, number, line, text):
        self.path = path
        self.number = number
        self.line = line
        self.text = text

    def where(self):
        return f"{self.path}:{self.line}: statement {self.number}"

    def head(self):
        lines = [l for l in self.text.splitlines() if l.strip() and not l.strip().startswith("--")]
        first = lines[0].strip() if lines else ""
        return first if len(first) <= 100 else first[:97] + "..."


def split_statements(path, text):
    """Splits a file into statements at the `;` that ends a line."""
    statements = []
    current = []
    start = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            if current:
                current.append(line)
            continue
        if start is None and not stripped.startswith("--"):
            start = number
        current.append(line)
        if not stripped.startswith("--") and line.rstrip().endswith(";"):
            body = "\n".join(current).rstrip()
            statements.append((start, body[:-1].rstrip()))
            current = []
            start = None
    if start is not None:
        statements.append((start, "\n".join(current).strip()))
    return [Statement(path, i, line, body) for i, (line, body) in enumerate(statements, start=1)]


class ChdbEngine:
    name = "chdb"

    def __init__(self, database, timeout):
        self._timeout = timeout
        try:
            import chdb
            from chdb import session
        except ImportError as e:
            raise SetupError(f"the chdb package is not importable ({e}); run scripts/chdb-check.sh") from e
        self._session = session.Session()
        self.version = self.run("SELECT version()").strip()
        self.description = f"ClickHouse {self.version} embedded in chdb {getattr(chdb, '__version__', '?')}"
        self.database = database

    def run(self, sql):
        try:
            return self._session.query(sql, "TabSeparated").bytes().decode("utf-8", "replace")
        except Exception as e:  # chdb raises its own error type with the engine's message
            raise EngineError(str(e).strip()) from e

    def open(self):
        self.run(f"SET max_execution_time = {self._timeout}")
        self.run(f"CREATE DATABASE {self.database}")
        self.run(f"USE {self.database}")

    def execute(self, statement):
        return self.run(statement.text)

    def close(self):
        try:
            self.run(f"DROP DATABASE IF EXISTS {self.database}")
        finally:
            self._session.close()


class ServerEngine:
    """A running server over HTTP: one POST per statement, all in one HTTP session.

    The session keeps `SET` and `USE` from one statement to the next, as chdb's session does.
    `wait_end_of_query=1` makes the server hold the answer until the statement has finished,
    so that an error raised after the first rows (a `throwIf` deep in a result) still comes
    back as an HTTP error status, never as a 200 with the error text at the end of the body.
    """

    name = "server"

    def __init__(self, database, host, port, timeout):
        self._host = host
        self._port = port
        self._timeout = timeout
        self._http_timeout = timeout + CLIENT_GRACE_S
        self.database = database
        self._session = f"{database}_{uuid.uuid4().hex[:8]}"
        self._running = None
        self.version = self._post("SELECT version()", session=False).strip()
        self.description = f"ClickHouse {self.version} server at http://{host}:{port}/"

    def _post(self, sql, session=True):
        # Each statement has its own query ID, so that one abandoned (timeout, interruption)
        # can be cancelled on the server before the database is dropped.
        query_id = f"{self.database}_{uuid.uuid4().hex[:12]}"
        params = {
            "query_id": query_id,
            "max_execution_time": str(self._timeout),
            "wait_end_of_query": "1",
        }
        if session:
            params["session_id"] = self._session
        self._running = query_id
        # A connection per statement: the server closes idle keep-alive connections after a
        # few seconds, and a statement must never be sent twice.
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._http_timeout)
        try:
            conn.request(
                "POST",
                "/?" + urllib.parse.urlencode(params),
                body=sql.encode("utf-8"),
                headers={"Content-Type": "text/plain; charset=UTF-8"},
            )
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
        except socket.timeout as e:
            self._cancel()
            raise EngineError(f"no answer from the server within {self._http_timeout}s") from e
        except (OSError, http.client.HTTPException) as e:
            raise EngineError(
                f"no answer from ClickHouse at http://{self._host}:{self._port}/ ({e}); "
                "is it running? (scripts/clickhouse.sh start)"
            ) from e
        finally:
            conn.close()
        self._running = None
        if response.status != 200:
            raise EngineError(body.strip() or f"HTTP status {response.status}")
        return body

    def _cancel(self):
        """Cancels the statement left running by a timeout or an interruption, if any."""
        if self._running is None:
            return
        abandoned, self._running = self._running, None
        try:
            self._post(f"KILL QUERY WHERE query_id = '{abandoned}' SYNC", session=False)
        except EngineError:
            pass

    def open(self):
        self._post(f"CREATE DATABASE {self.database}")
        self._post(f"USE {self.database}")

    def execute(self, statement):
        return self._post(statement.text)

    def close(self):
        self._cancel()
        self._post(f"DROP DATABASE IF EXISTS {self.database}", session=False)


class SetupError(Exception):
    pass


class EngineError(Exception):
    pass


def main():
    parser = argparse.ArgumentParser(
        description="Run the statements of SQL files in order against a ClickHouse engine."
    )
    parser.add_argument("files", nargs="+", metavar="FILE.sql")
    parser.add_argument(
        "--engine",
        choices=["chdb", "server"],
        default="chdb",
        help="chdb: the current ClickHouse embedded in chdb (default); server: a running server over HTTP",
    )
    parser.add_argument("--host", default="127.0.0.1", help="server engine: host (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SCEPWATCH_CLICKHOUSE_HTTP_PORT", "8123")),
        help="server engine: HTTP port (default $SCEPWATCH_CLICKHOUSE_HTTP_PORT or 8123)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"cancel a statement that runs longer (default {DEFAULT_TIMEOUT_S})",
    )
    parser.add_argument("--echo", action="store_true", help="print every statement and its result")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run the remaining statements after a failure (still exit 1)",
    )
    args = parser.parse_args()
    # SIGTERM unwinds like an error, so that the throwaway database is still dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    files = []
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                files.append((path, split_statements(path, f.read())))
        except (OSError, UnicodeDecodeError) as e:
            print(f"chdb-check: cannot read {path}: {e}", file=sys.stderr)
            return 2

    database = f"scepwatch_check_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        if args.engine == "chdb":
            engine = ChdbEngine(database, args.timeout)
        else:
            engine = ServerEngine(database, args.host, args.port, args.timeout)
        engine.open()
    except (SetupError, EngineError) as e:
        print(f"chdb-check: cannot open the {args.engine} engine: {e}", file=sys.stderr)
        return 2
    print(f"engine: {engine.description} (version() = {engine.version}); database {database}")

    failures = 0
    total = 0
    started = time.monotonic()
    try:
        for path, statements in files:
            ran = 0
            for statement in statements:
                if args.echo:
                    print(f"-- {statement.where()}\n{statement.text};")
                try:
                    out = engine.execute(statement)
                except EngineError as e:
                    failures += 1
                    print(
                        f"FAILED {statement.where()} on ClickHouse {engine.version} ({engine.name}): "
                        f"{statement.head()}\n{e}",
                        file=sys.stderr,
                    )
                    if not args.keep_going:
                        return 1
                    continue
                ran += 1
                total += 1
                if args.echo and out:
                    print(out.rstrip("\n"))
            print(f"{path}: {ran} of {len(statements)} statements ran on ClickHouse {engine.version} ({engine.name})")
        print(
            f"{total} statements ran on ClickHouse {engine.version} ({engine.name}) in "
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        try:
            engine.close()
        except EngineError as e:
            print(f"chdb-check: could not drop {database}: {e}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
