#!/usr/bin/env python3
"""Writes the sample incident under testdata/samples/ (see README.md there for the story).

Every file of the sample is produced here from one timeline, so that device logs, server logs,
probe results and health facts agree on times, addresses and SCEP transactions. The output is
deterministic: the background traffic comes from a seeded PRNG, the zip has fixed timestamps,
and the SCEP messages are read from scep/*.der (made once by scep/make-messages.sh).

usage: python3 testdata/samples/make-samples.py
"""

import base64
import datetime as dt
import json
import os
import random
import subprocess
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DAY = dt.date(2026, 11, 20)
ENDPOINT = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
ENDPOINT_PKICLIENT = ENDPOINT + "/pkiclient.exe"

# Addresses. The application proxy connector (WAPCSvc) runs on ndes01 and reaches both servers
# through the load balancer's name ndes.contoso.com, so every device request arrives at IIS from
# ndes01's address.
IP = {"ndes01": "10.20.30.11", "ndes02": "10.20.30.12"}
LB_IP = "10.20.30.5"
CONNECTOR_IP = IP["ndes01"]
ADMIN_IP = "10.20.40.20"

UA_PIXEL = "Dalvik/2.1.0+(Linux;+U;+Android+14;+Pixel+7+Build/AP2A.240905.003)"
UA_IPHONE = "profiled/1.0+CFNetwork/1568.200.51+Darwin/24.1.0"
UA_WINDOWS = "Mozilla/4.0+(compatible;+Win32;+NDES+client)"
UA_EDGE = ("Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)"
           "+Chrome/131.0.0.0+Safari/537.36+Edg/131.0.0.0")
UA_PROBE = "scepwatch-probe/0.1"
BACKGROUND_UAS = {
    "android": [
        "Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007)",
        "Dalvik/2.1.0+(Linux;+U;+Android+13;+SM-A536B+Build/TP1A.220624.014)",
        "Dalvik/2.1.0+(Linux;+U;+Android+15;+Pixel+8+Build/AP3A.241105.007)",
    ],
    "ios": [
        "profiled/1.0+CFNetwork/1568.100.1+Darwin/24.0.0",
        "profiled/1.0+CFNetwork/1496.0.7+Darwin/23.5.0",
    ],
    "windows": [UA_WINDOWS],
}

# Quiet windows for background device traffic (UTC minutes of the day): the connector outage
# (no device can reach either server), and ten minutes around each attempt of the sample's own
# devices, so the fallback join (endpoint, user-agent family, time) has one candidate.
CONNECTOR_DOWN = (11 * 60 + 38, 11 * 60 + 58)
NOBODY_ENROLLS = (11 * 60 + 28, 11 * 60 + 38)
QUIET = [NOBODY_ENROLLS, CONNECTOR_DOWN] + [
    (m - 10, m + 10) for m in (12 * 60 + 30, 13 * 60 + 20, 14 * 60 + 5, 15 * 60 + 30)
]
# ndes02's SCEP pool is down from the first crash until an admin starts it again.
NDES02_POOL_DOWN = (10 * 60 + 1, 10 * 60 + 12)


def at(hms, frac=0):
    """A UTC datetime on the incident day from 'HH:MM:SS' and microseconds."""
    h, m, s = (int(x) for x in hms.split(":"))
    return dt.datetime(DAY.year, DAY.month, DAY.day, h, m, s, frac, tzinfo=dt.timezone.utc)


def rfc3339(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{t.microsecond:06d}Z" if t.microsecond else "Z")


def message(name):
    """Standard base64 of a stored pkiMessage (what iOS puts in message=, before escaping)."""
    with open(os.path.join(HERE, "scep", name + ".der"), "rb") as f:
        return base64.b64encode(f.read()).decode()


def url_escape_b64(b64):
    """Percent-encodes the three base64 characters that are not safe in a query value."""
    return b64.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def transaction_id(name):
    """The transactionID printed by openssl for a stored message (for the README)."""
    out = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in",
         os.path.join(HERE, "scep", name + ".der")],
        capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if "2.16.840.1.113733.1.9.7" in line:
            for follow in lines[i:i + 4]:
                if "PRINTABLESTRING:" in follow:
                    return follow.split("PRINTABLESTRING:", 1)[1].strip()
    return "?"


MSG_1230 = message("iphone-anna-1230")
MSG_1530 = message("iphone-anna-1530")


# ------------------------------------------------------------------------------------------
# IIS
# ------------------------------------------------------------------------------------------

class Iis:
    """Lines of one server's u_exYYMMDD.log, sorted by time when written."""

    def __init__(self, host):
        self.host = host
        self.rows = []

    def add(self, t, method, stem, query, port, user, client, ua, status, sub=0, win32=0,
            taken=15):
        self.rows.append((t, method, stem, query or "-", port, user or "-", client, ua or "-",
                          status, sub, win32, taken))

    def write(self, path):
        self.rows.sort(key=lambda r: r[0])
        first = self.rows[0][0]
        out = [
            "#Software: Microsoft Internet Information Services 10.0",
            "#Version: 1.0",
            f"#Date: {first:%Y-%m-%d %H:%M:%S}",
            "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username "
            "c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
        ]
        for (t, method, stem, query, port, user, client, ua, status, sub, win32, taken) in self.rows:
            out.append(f"{t:%Y-%m-%d %H:%M:%S} {IP[self.host]} {method} {stem} {query} {port} "
                       f"{user} {client} {ua} - {status} {sub} {win32} {taken}")
        write_text(path, "\r\n".join(out) + "\r\n")


def scep_get(iis, t, op, ua, status=200, sub=0, win32=0, pkiclient=False, message_value=None,
             client=CONNECTOR_IP, taken=None):
    stem = "/certsrv/mscep/mscep.dll" + ("/pkiclient.exe" if pkiclient else "")
    if op == "PKIOperation":
        query = f"operation=PKIOperation&message={message_value}"
        taken = taken or 210
    else:
        # Each client sends its own message= with GetCACaps / GetCACert.
        if pkiclient:
            ca_message = "default"
        elif ua.startswith("profiled/"):
            ca_message = "SCEP%20Authority"
        else:
            ca_message = "ca"
        query = f"operation={op}&message={ca_message}"
        taken = taken or (31 if op == "GetCACaps" else 46)
    iis.add(t, "GET", stem, query, 443, None, client, ua, status, sub, win32, taken)


def scep_post(iis, t, ua, status=200, sub=0, win32=0, pkiclient=False):
    stem = "/certsrv/mscep/mscep.dll" + ("/pkiclient.exe" if pkiclient else "")
    iis.add(t, "POST", stem, "operation=PKIOperation", 443, None, CONNECTOR_IP, ua, status, sub,
            win32, 388)


def verify_request(iis, t, status, sub=0):
    """The Intune connector's NDES plugin asking CertificateRegistrationSvc to verify the
    challenge of a PKIOperation it received (loopback, anonymous)."""
    iis.add(t, "POST", "/CertificateRegistrationSvc/Certificate/VerifyRequest", None, 443, None,
            "127.0.0.1", None, status, sub, 0, 62 if status == 200 else 4)


def in_windows(minute, windows):
    return any(a <= minute < b for a, b in windows)


def background(iis_by_host, rng):
    """Load balancer health checks, admin browsing, hourly probes and other devices' enrollments
    over the whole day."""
    for host, iis in iis_by_host.items():
        # The load balancer checks the default site (not the SCEP pool) every five minutes.
        offset = 2 if host == "ndes01" else 4
        for minute in range(0, 24 * 60, 5):
            t = at(f"{minute // 60:02d}:{minute % 60:02d}:{offset:02d}")
            iis.add(t, "GET", "/", None, 443, None, LB_IP, None, 200, 0, 0, 0)
        # An admin looks at the CA web pages in the morning (challenge, then authenticated).
        for hms in ("08:14:37", "08:14:38", "08:14:51"):
            anon = hms == "08:14:37"
            iis.add(at(hms), "GET", "/certsrv/", None, 443, None if anon else "CONTOSO\\pkiadmin",
                    ADMIN_IP, UA_EDGE, 401 if anon else 200, 2 if anon else 0,
                    5 if anon else 0, 3 if anon else 118)

    # Other devices enrolling through the endpoint; the load balancer alternates servers.
    hosts = sorted(iis_by_host)
    families = ["android"] * 5 + ["ios"] * 3 + ["windows"] * 2
    minute = 6 * 60 + 3
    n = 0
    while minute < 20 * 60:
        minute += rng.randint(9, 24)
        if in_windows(minute, QUIET):
            continue
        host = hosts[n % 2]
        n += 1
        family = rng.choice(families)
        ua = rng.choice(BACKGROUND_UAS[family])
        base = at(f"{minute // 60:02d}:{minute % 60:02d}:{rng.randint(0, 50):02d}")
        iis = iis_by_host[host]
        if host == "ndes02" and in_windows(minute, [NDES02_POOL_DOWN]):
            continue  # written by the crash story instead
        if in_windows(minute, [(9 * 60 + 10, 9 * 60 + 24)]) and host == "ndes01":
            continue  # written by the 1346 story instead
        if minute >= 16 * 60 and host == "ndes01":
            continue  # ndes01 is broken from 16:00 on: written by the row 11 and 12 stories
        pkiclient = family == "windows"
        scep_get(iis, base, "GetCACaps", ua, pkiclient=pkiclient)
        scep_get(iis, base + dt.timedelta(seconds=1), "GetCACert", ua, pkiclient=pkiclient)
        if family == "ios":
            # Background iPhones use POST here; only the sample's iPhone sends its CSR by GET,
            # so its transactionIDs stay the only ones in the logs.
            scep_post(iis, base + dt.timedelta(seconds=2), ua)
        else:
            scep_post(iis, base + dt.timedelta(seconds=2), ua, pkiclient=pkiclient)
        verify_request(iis, base + dt.timedelta(seconds=2), 200)


# ------------------------------------------------------------------------------------------
# HTTPERR
# ------------------------------------------------------------------------------------------

def httperr_file(path, rows):
    rows.sort(key=lambda r: r[0])
    out = [
        "#Software: Microsoft HTTP API 2.0",
        "#Version: 1.0",
        f"#Date: {rows[0][0]:%Y-%m-%d %H:%M:%S}",
        "#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid "
        "sc-status s-siteid s-reason s-queuename",
    ]
    for (t, cip, cport, sip, sport, ver, method, uri, status, site, reason, queue) in rows:
        out.append(f"{t:%Y-%m-%d %H:%M:%S} {cip} {cport} {sip} {sport} {ver} {method} {uri} - "
                   f"{status} {site} {reason} {queue}")
    write_text(path, "\r\n".join(out) + "\r\n")


# ------------------------------------------------------------------------------------------
# Event logs
# ------------------------------------------------------------------------------------------

EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def wevtutil_event(provider, guid, event_id, level, task, keywords, t, record, channel,
                   computer, data, qualifiers=None, named=True, pid=0, tid=0):
    """One <Event> as `wevtutil qe <log> /f:xml` prints it (one per line, no root element)."""
    prov = f"<Provider Name='{provider}'" + (f" Guid='{{{guid}}}'" if guid else "") + "/>"
    eid = (f"<EventID Qualifiers='{qualifiers}'>{event_id}</EventID>" if qualifiers is not None
           else f"<EventID>{event_id}</EventID>")
    if named:
        items = "".join(f"<Data Name='{k}'>{xml_escape(v)}</Data>" for k, v in data)
    else:
        items = "".join(f"<Data>{xml_escape(v)}</Data>" for v in data)
    return (f"<Event xmlns='{EVENT_NS}'><System>{prov}{eid}<Version>0</Version>"
            f"<Level>{level}</Level><Task>{task}</Task><Opcode>0</Opcode>"
            f"<Keywords>{keywords}</Keywords><TimeCreated SystemTime='{t:%Y-%m-%dT%H:%M:%S}."
            f"{t.microsecond:06d}0Z'/><EventRecordID>{record}</EventRecordID><Correlation/>"
            f"<Execution ProcessID='{pid}' ThreadID='{tid}'/><Channel>{channel}</Channel>"
            f"<Computer>{computer}</Computer><Security/></System><EventData>{items}</EventData>"
            f"</Event>")


def xml_escape(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def app_crash(t, record, computer, pid_hex, offset):
    data = [
        ("AppName", "w3wp.exe"), ("AppVersion", "10.0.20348.1"), ("AppTimeStamp", "5215df96"),
        ("ModuleName", "ntdll.dll"), ("ModuleVersion", "10.0.20348.2849"),
        ("ModuleTimeStamp", "59ba86db"), ("ExceptionCode", "c0000005"),
        ("FaultingOffset", offset), ("ProcessId", pid_hex),
        ("ProcessCreationTime", "0x1db3b2c9e0d1a2b"),
        ("AppPath", "c:\\windows\\system32\\inetsrv\\w3wp.exe"),
        ("ModulePath", "C:\\Windows\\SYSTEM32\\ntdll.dll"),
        ("IntegratorReportId", f"8c1e0f52-3b7a-4d2e-9f41-{record:012x}"),
        ("PackageFullName", ""), ("PackageRelativeAppId", ""),
    ]
    return wevtutil_event("Application Error", "a0e9b465-b939-57d7-b27d-95d8e925ff57", 1000, 2,
                          100, "0x80000000000000", t, record, "Application", computer, data,
                          named=True)


def wer_report(t, record, computer, bucket):
    data = ["1990851827640617023", "4", "APPCRASH", "Not available", "0", "w3wp.exe",
            "10.0.20348.1", "5215df96", "ntdll.dll", "10.0.20348.2849", "59ba86db",
            "c0000005", "000000000002b1f4", "", "",
            "C:\\ProgramData\\Microsoft\\Windows\\WER\\ReportArchive\\AppCrash_w3wp.exe_" + bucket,
            "", "", "0", "8c1e0f52-3b7a-4d2e-9f41-000000000000", "0", "", "", ""]
    return wevtutil_event("Windows Error Reporting", None, 1001, 4, 0, "0x80000000000000", t,
                          record, "Application", computer, data, qualifiers=0, named=False)


def simple_app_event(provider, event_id, level, t, record, computer, strings, qualifiers=0):
    return wevtutil_event(provider, None, event_id, level, 0, "0x80000000000000", t, record,
                          "Application", computer, strings, qualifiers=qualifiers, named=False)


def ps_property(name, type_, value=None):
    if value is None:
        return f'    <Property Name="{name}" Type="{type_}" />'
    return f'    <Property Name="{name}" Type="{type_}">{xml_escape(value)}</Property>'


NULLABLE = "System.Nullable`1[[System.{}, System.Private.CoreLib, Version=8.0.0.0, " \
           "Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]"


def ps_event(event_id, level, level_name, task, task_name, opcode, opcode_name, record, t,
             computer, details, pid, tid):
    """One CAPI2 event as `Get-WinEvent -LogName Microsoft-Windows-CAPI2/Operational |
    ConvertTo-Xml -As String` prints it (PowerShell 7). CAPI2 events render no message of their
    own: Message is the provider's pointer to the Details tab, and the details (URL, result)
    stay in the event's UserData, which this export does not carry. `details` is kept in the
    generator as the story's record of what the Details tab would show."""
    rows = [
        '  <Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">',
        ps_property("Id", "System.Int32", event_id),
        ps_property("Version", NULLABLE.format("Byte"), 0),
        ps_property("Qualifiers", NULLABLE.format("Int32")),
        ps_property("Level", NULLABLE.format("Byte"), level),
        ps_property("Task", NULLABLE.format("Int32"), task),
        ps_property("Opcode", NULLABLE.format("Int16"), opcode),
        ps_property("Keywords", NULLABLE.format("Int64"), "4611686018427387904"),
        ps_property("RecordId", NULLABLE.format("Int64"), record),
        ps_property("ProviderName", "System.String", "Microsoft-Windows-CAPI2"),
        ps_property("ProviderId", NULLABLE.format("Guid"), "5bbca4a8-b209-48dc-a8c7-b23d3e5216fb"),
        ps_property("LogName", "System.String", "Microsoft-Windows-CAPI2/Operational"),
        ps_property("ProcessId", NULLABLE.format("Int32"), pid),
        ps_property("ThreadId", NULLABLE.format("Int32"), tid),
        ps_property("MachineName", "System.String", computer),
        ps_property("UserId", "System.Security.Principal.SecurityIdentifier",
                    "S-1-5-82-3006700770-424185619-1745488364-794895919-4004696415"),
        ps_property("TimeCreated", NULLABLE.format("DateTime"),
                    f"{t.month}/{t.day}/{t.year} {(t.hour % 12) or 12}:{t:%M:%S} "
                    f"{'AM' if t.hour < 12 else 'PM'}"),
        ps_property("ActivityId", NULLABLE.format("Guid"), "f6a3c1d2-5b4e-4a8f-9c0d-1e2f3a4b5c6d"),
        ps_property("RelatedActivityId", NULLABLE.format("Guid")),
        ps_property("ContainerLog", "System.String", "Microsoft-Windows-CAPI2/Operational"),
        ps_property("MatchedQueryIds", "System.UInt32[]", ""),
        ps_property("Bookmark", "System.Diagnostics.Eventing.Reader.EventBookmark",
                    "System.Diagnostics.Eventing.Reader.EventBookmark"),
        ps_property("LevelDisplayName", "System.String", level_name),
        ps_property("OpcodeDisplayName", "System.String", opcode_name),
        ps_property("TaskDisplayName", "System.String", task_name),
        ps_property("KeywordsDisplayNames",
                    "System.Collections.ObjectModel.ReadOnlyCollection`1[[System.String, "
                    "System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, "
                    "PublicKeyToken=7cec85d7bea7798e]]", ""),
        ps_property("Properties",
                    "System.Collections.Generic.List`1[[System.Diagnostics.Eventing.Reader."
                    "EventProperty, System.Diagnostics.EventLog, Version=8.0.0.0, "
                    "Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51]]", ""),
        ps_property("Message", "System.String",
                    'For more details for this event, please refer to the "Details" section'),
        "  </Object>",
    ]
    return "\r\n".join(rows)


def ps_document(objects):
    return ('<?xml version="1.0" encoding="utf-8"?>\r\n<Objects>\r\n' + "\r\n".join(objects)
            + "\r\n</Objects>\r\n")


# ------------------------------------------------------------------------------------------
# SetupMsi.log
# ------------------------------------------------------------------------------------------

def setupmsi(start, end, status):
    """A verbose Windows Installer log of the Certificate Connector's setup (trimmed: the real
    one is several thousand lines of property dumps)."""
    def stamp(t):
        return f"[{t:%H:%M:%S}:{t.microsecond // 1000:03d}]"

    def verbose(t):
        return f"{t.month}/{t.day}/{t.year} {t.hour:2d}:{t:%M:%S}"

    product = ("Product Name: Microsoft Intune Connector. Product Version: 6.2301.1.0. "
               "Product Language: 1033. Manufacturer: Microsoft Corporation.")
    t = start
    lines = [
        f"=== Verbose logging started: {verbose(t)}  Build type: SHIP UNICODE 5.00.10011.00  "
        "Calling process: C:\\Windows\\system32\\msiexec.exe ===",
        f"MSI (c) (28:54) {stamp(t)}: Resetting cached policy values",
        f"MSI (c) (28:54) {stamp(t)}: Machine policy value 'Debug' is 0",
        f"MSI (c) (28:54) {stamp(t)}: ******* RunEngine:",
        f"           ******* Product: C:\\Program Files\\Microsoft Intune\\NDESConnectorSetup.msi",
        f"           ******* Action: ",
        f"           ******* CommandLine: **********",
        f"MSI (c) (28:54) {stamp(t + dt.timedelta(milliseconds=31))}: Client-side and UI is "
        "none or basic: Running entire install on the server.",
        f"MSI (s) (A4:3C) {stamp(t + dt.timedelta(seconds=2))}: Doing action: INSTALL",
        f"Action start {t + dt.timedelta(seconds=2):%H:%M:%S}: INSTALL.",
        f"MSI (s) (A4:3C) {stamp(t + dt.timedelta(seconds=41))}: Doing action: "
        "InstallNDESConnectorService",
        f"Action start {t + dt.timedelta(seconds=41):%H:%M:%S}: InstallNDESConnectorService.",
    ]
    if status == 0:
        lines += [
            f"Action ended {end - dt.timedelta(seconds=3):%H:%M:%S}: InstallNDESConnectorService. "
            "Return value 1.",
            f"Action ended {end - dt.timedelta(seconds=1):%H:%M:%S}: INSTALL. Return value 1.",
            f"MSI (s) (A4:3C) {stamp(end)}: Product: Microsoft Intune Connector -- Installation "
            "completed successfully.",
        ]
    else:
        lines += [
            f"CustomAction InstallNDESConnectorService returned actual error code 1603 (note this "
            "may not be 100% accurate if translation happened inside sandbox)",
            f"MSI (s) (A4:3C) {stamp(end - dt.timedelta(seconds=4))}: Note: 1: 1708 ",
            f"Action ended {end - dt.timedelta(seconds=3):%H:%M:%S}: InstallNDESConnectorService. "
            "Return value 3.",
            f"Action ended {end - dt.timedelta(seconds=1):%H:%M:%S}: INSTALL. Return value 3.",
            f"MSI (s) (A4:3C) {stamp(end)}: Product: Microsoft Intune Connector -- Installation "
            "failed.",
        ]
    lines += [
        f"MSI (s) (A4:3C) {stamp(end + dt.timedelta(milliseconds=94))}: Windows Installer "
        f"installed the product. {product} Installation success or error status: {status}.",
        f"MSI (c) (28:54) {stamp(end + dt.timedelta(milliseconds=190))}: MainEngineThread is "
        f"returning {status}",
        f"=== Verbose logging stopped: {verbose(end)} ===",
    ]
    return "\r\n".join(lines) + "\r\n"


# ------------------------------------------------------------------------------------------
# Device logs
# ------------------------------------------------------------------------------------------

def omadm(t, component, message, pid=24117, tid=12, level="VERB"):
    """One Android Company Portal OMADM line; the phone's clock is UTC (Lisbon in November)."""
    return (f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}0  {level}  Event  {component}  "
            f"{pid}    {tid}  {message}")


CERTMGR = "com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager"
GET_TRANSPORT = "org.jscep.transport.UrlConnectionGetTransport"
POST_TRANSPORT = "org.jscep.transport.UrlConnectionPostTransport"
ENCODER = "org.jscep.message.PkiMessageEncoder"
TRANSACTION = "org.jscep.transaction.EnrollmentTransaction"


def ios_line(t, kind, message, tid="0x1a2b3c"):
    """One `log show` line of profiled with full date (the iPhone is in New York, UTC-5)."""
    local = t.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    return (f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond:06d}-0500  {tid}   {kind:<11} 0x0"
            f"                  312    0    profiled: [com.apple.ManagedClient:SCEP] {message}")


def event36_text(t, computer, record_user="S-1-5-18"):
    """Event 36 as Event Viewer's "Copy > Copy details as text" shows it. The laptop's clock is
    UTC (London in November), and Event Viewer prints local time without a zone."""
    return "\r\n".join([
        "Log Name:      Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin",
        "Source:        Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider",
        f"Date:          {t.month}/{t.day}/{t.year} {(t.hour % 12) or 12}:{t:%M:%S} "
        f"{'AM' if t.hour < 12 else 'PM'}",
        "Event ID:      36",
        "Task Category: None",
        "Level:         Information",
        "Keywords:      ",
        f"User:          {record_user}",
        f"Computer:      {computer}",
        "Description:",
        "SCEP: Certificate request generated successfully. Enhanced Key Usage: "
        f"(1.3.6.1.5.5.7.3.2), NDES URL: ({ENDPOINT_PKICLIENT}), Container Name: "
        "(), KSP Setting: (0x2), Store Location: (0x1).",
        "",
    ])


# ------------------------------------------------------------------------------------------
# Probe and health
# ------------------------------------------------------------------------------------------

BODY_403 = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n<html xmlns="http://www.w3.org/'
            '1999/xhtml">\r\n<head>\r\n<title>403 - Forbidden: Access is denied.</title>\r\n'
            '</head>\r\n<body>\r\n<div id="header"><h1>Server Error</h1></div>\r\n'
            '<div id="content">\r\n <div class="content-container"><fieldset>\r\n  <h2>403 - '
            'Forbidden: Access is denied.</h2>\r\n  <h3>You do not have permission to view this '
            'directory or page using the credentials that you supplied.</h3>\r\n </fieldset></div>'
            '\r\n</div>\r\n</body>\r\n</html>\r\n')
BODY_NDES_GENERAL = ("<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; "
                     "charset=UTF-16\"><Title>Network Device Enrollment Service</Title></Head>"
                     "<Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\">"
                     "<Table Border=0 CellSpacing=0 CellPadding=4 Width=100% BgColor=#008080>"
                     "<TR><TD><Font Color=#FFFFFF><LocID ID=locMSCertSrv><Font Face=\"Arial\" "
                     "Size=-1><B><I>Network Device Enrollment Service</I></B></Font></LocID>"
                     "</Font></TD></TR></Table><P ID=locPageDesc> Network Device Enrollment "
                     "Service allows you to obtain certificates for routers or other network "
                     "devices using the Simple Certificate Enrollment Protocol (SCEP). </P>"
                     "</Font></Body></HTML>")
BODY_CANNOT_DISPLAY = ("<!DOCTYPE html><html><head><title>This page can't be displayed</title>"
                       "</head><body><h1>This page can't be displayed</h1><p>Make sure the web "
                       "address https://contoso.com is correct.</p></body></html>")
BODY_GATEWAY_TIMEOUT = ("<!DOCTYPE html><html><head><title>Gateway Timeout</title></head><body>"
                        "<h1>Gateway Timeout</h1><p>The application proxy did not get an answer "
                        "from a connector in time. Error: GatewayTimeout</p></body></html>")
BODY_503 = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/'
            'strict.dtd">\r\n<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n<META HTTP-EQUIV='
            '"Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n<BODY><h2>Service '
            'Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n'
            '</BODY></HTML>\r\n')
BODY_414 = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/'
            'strict.dtd">\r\n<HTML><HEAD><TITLE>Request URL Too Long</TITLE>\r\n<META HTTP-EQUIV='
            '"Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n<BODY><h2>Request '
            'URL Too Long</h2>\r\n<hr><p>HTTP Error 414. The request URL is too long.</p>\r\n'
            '</BODY></HTML>\r\n')


def probe(t, url, check, status, body, elapsed, error=None, substatus=0):
    return {"time": rfc3339(t), "url": url, "check": check, "status": status,
            "substatus": substatus, "body": body[:4096], "error": error, "elapsed_ms": elapsed}


def cert(t, role, thumbprint, subject, issuer, not_before, not_after, eku, dns=(),
         store="LocalMachine\\My"):
    return {"time": rfc3339(t), "fact": "certificate", "role": role, "store": store,
            "thumbprint": thumbprint, "subject": subject, "issuer": issuer,
            "not_before": not_before, "not_after": not_after, "eku": list(eku),
            "dns_names": list(dns)}


def jsonl(rows):
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)


# ------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------

def write_text(rel, text):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(text)


def main():
    rng = random.Random(20261120)
    iis = {"ndes01": Iis("ndes01"), "ndes02": Iis("ndes02")}
    httperr = {"ndes01": [], "ndes02": []}
    background(iis, rng)
    n1, n2 = iis["ndes01"], iis["ndes02"]

    def herr(host, t, cip, cport, method, uri, status, site, reason, queue, ver="HTTP/1.1"):
        httperr[host].append((t, cip, cport, IP[host], 443, ver, method, uri, status, site,
                              reason, queue))

    # Idle connections HTTP.sys closed: every server logs some all day.
    for host in httperr:
        for k in range(9):
            t = at(f"{7 + k:02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")
            herr(host, t, rng.choice([ADMIN_IP, CONNECTOR_IP, LB_IP]), rng.randint(49152, 65000),
                 "-", "-", "-", "-", "Timer_ConnectionIdle", "-", ver="-")

    # Row 13 (and hourly): the prober on ndes01 browses the endpoint and gets mscep.dll's 403.
    probes01 = []
    for hour in range(8, 20):
        t = at(f"{hour:02d}:05:00")
        minute = hour * 60 + 5
        if in_windows(minute, [CONNECTOR_DOWN]):
            continue
        # The load balancer sends odd hours to ndes02; at 10:05 its SCEP pool is down.
        target = "ndes02" if hour % 2 else "ndes01"
        if target == "ndes02" and in_windows(minute, [NDES02_POOL_DOWN]):
            herr("ndes02", t, CONNECTOR_IP, 50811, "GET", "/certsrv/mscep/mscep.dll", 503, 1,
                 "AppOffline", "SCEP")
            probes01.append(probe(t, ENDPOINT, "browse", 503, BODY_503, 118))
            continue
        iis[target].add(t, "GET", "/certsrv/mscep/mscep.dll", None, 443, None, CONNECTOR_IP,
                        UA_PROBE, 403, 0, 0, 7)
        probes01.append(probe(t + dt.timedelta(milliseconds=41), ENDPOINT, "browse", 403,
                              BODY_403, 41))

    # Row 8: the prober also tries the external URL the Intune profile had before it was fixed.
    probes01.append(probe(at("08:06:10"), "https://contoso.com/certsrv/mscep/mscep.dll",
                          "browse", 404, BODY_CANNOT_DISPLAY, 212))

    # Row 3: a group policy refresh drops IIS_IUSRS from "Impersonate a client after
    # authentication" on ndes01 at 09:10; every SCEP request fails with 500 / 1346 until the
    # admin fixes it and restarts IIS at 09:24.
    for hms, ua in (("09:12:07", "profiled/1.0+CFNetwork/1568.100.1+Darwin/24.0.0"),
                    ("09:15:44", BACKGROUND_UAS["android"][0]),
                    ("09:19:30", "profiled/1.0+CFNetwork/1496.0.7+Darwin/23.5.0")):
        scep_get(n1, at(hms), "GetCACert", ua, status=500, win32=1346)

    # Rows 4 and 5: ndes02's SCEP pool crashes in ntdll.dll three times (CAPI2 shows the CRL of
    # the connector's certificate unreachable just before), rapid-fail protection stops the
    # pool, and HTTP.sys answers 503 AppOffline / QueueFull until an admin starts it at 10:12.
    app02 = [
        simple_app_event("Microsoft-Windows-Security-SPP", 16384, 4, at("07:02:15", 331000),
                         48201, "ndes02.contoso.com",
                         ["2126-10-27T07:02:15Z", "RulesEngine"], qualifiers=16384),
        simple_app_event("MsiInstaller", 11708, 2, at("07:41:22", 402000), 48207,
                         "ndes02.contoso.com",
                         ["Product: Microsoft Intune Connector -- Installation failed.",
                          "(NULL)", "(NULL)", "(NULL)", "(NULL)", "(NULL)", ""]),
        simple_app_event("MsiInstaller", 1033, 4, at("07:41:22", 498000), 48208,
                         "ndes02.contoso.com",
                         ["Microsoft Intune Connector", "6.2301.1.0", "1033", "1603",
                          "Microsoft Corporation", "(NULL)", ""]),
    ]
    capi02 = []
    crashes = [("10:01:58", 412000, "0x1f3c", "000000000002b1f4", 48215),
               ("10:03:41", 95000, "0x2a88", "000000000002b1f4", 48218),
               ("10:05:12", 730000, "0x0f14", "000000000002b1f4", 48221)]
    for i, (hms, us, pid, offset, record) in enumerate(crashes):
        t = at(hms, us)
        # CAPI2: the CRL download for the connector's certificate times out, then the revocation
        # check reports the server offline, a second before each crash.
        capi02.append(ps_event(
            53, 2, "Error", 53, "Retrieve Object from Network", 2, "Stop", 9120 + 3 * i,
            t - dt.timedelta(seconds=1, microseconds=200000), "ndes02.contoso.com",
            "Retrieve Object from Network\r\n  URL: http://pki.contoso.com/crl/Contoso%20Issuing"
            "%20CA.crl\r\n  Object type: CRL\r\n  Result: The operation timed out.\r\n  Error "
            "code: 0x80072ee2 (12002)", int(pid, 16), 5120 + i))
        capi02.append(ps_event(
            41, 2, "Error", 41, "Verify Revocation", 2, "Stop", 9121 + 3 * i,
            t - dt.timedelta(seconds=1), "ndes02.contoso.com",
            "Verify Revocation\r\n  Certificate: CN=ndes02.contoso.com, thumbprint "
            "6C1F0A9E3B7D2C4F8E1A5B9D0C3E7F2A4B6D8E01\r\n  Result: The revocation function was "
            "unable to check revocation because the revocation server was offline. (80092013)",
            int(pid, 16), 5120 + i))
        app02.append(app_crash(t, record, "ndes02.contoso.com", pid, offset))
        app02.append(wer_report(t + dt.timedelta(seconds=1), record + 1, "ndes02.contoso.com",
                                f"{i}3c9e2f1a"))
        # The request in flight when the worker died.
        herr("ndes02", t, CONNECTOR_IP, 52011 + i, "GET",
             "/certsrv/mscep/mscep.dll?operation=GetCACert&message=ca", "-", 1,
             "Connection_Abandoned_By_AppPool", "SCEP")
        # While WAS restarts the worker, IIS answers the next requests with 503.
        for k, ua in enumerate(BACKGROUND_UAS["android"][:2]):
            scep_get(n2, t + dt.timedelta(seconds=2 + k), "GetCACaps", ua, status=503, win32=0)
    app02.append(simple_app_event("Microsoft-Windows-IIS-W3SVC-WP", 2206, 3,
                                  at("10:05:13", 1000), 48223, "ndes02.contoso.com",
                                  ["SCEP"], qualifiers=32768))
    # The pool is stopped: HTTP.sys rejects everything for it until 10:12.
    for hms, reason, ua_uri in (
            ("10:05:13", "QueueFull", "GetCACaps"), ("10:05:13", "QueueFull", "GetCACert"),
            ("10:05:14", "AppOffline", "GetCACaps"), ("10:06:02", "AppOffline", "GetCACaps"),
            ("10:06:03", "AppOffline", "GetCACert"), ("10:07:31", "AppOffline", "GetCACaps"),
            ("10:08:00", "AppOffline", "/certsrv/mscep/mscep.dll"),
            ("10:08:47", "AppOffline", "GetCACaps"), ("10:09:15", "AppOffline", "GetCACaps"),
            ("10:10:40", "AppOffline", "GetCACert"), ("10:11:22", "AppOffline", "GetCACaps")):
        uri = ua_uri if ua_uri.startswith("/") else \
            f"/certsrv/mscep/mscep.dll?operation={ua_uri}&message=ca"
        cip = IP["ndes02"] if hms == "10:08:00" else CONNECTOR_IP
        herr("ndes02", at(hms), cip, rng.randint(49152, 65000), "GET", uri, 503, 1, reason,
             "SCEP")
    probes02 = [
        # Row 9: browsing ndes02 directly shows the NDES general message page (the connector's
        # install failed at 07:41, see SetupMsi.log).
        probe(at("07:55:00", 88000), "https://ndes02.contoso.com/certsrv/mscep/mscep.dll",
              "browse", 200, BODY_NDES_GENERAL, 88),
        probe(at("10:08:00", 12000), "https://ndes02.contoso.com/certsrv/mscep/mscep.dll",
              "browse", 503, BODY_503, 12),
    ]
    n2.add(at("07:55:00"), "GET", "/certsrv/mscep/mscep.dll", None, 443, None, IP["ndes02"],
           UA_PROBE, 200, 0, 0, 88)
    app02.append(simple_app_event("Microsoft-Windows-IIS-W3SVC-WP", 3201, 4, at("10:12:09"),
                                  48226, "ndes02.contoso.com", ["SCEP"], qualifiers=16384))

    # Row 6 and row 2: the application proxy connector service on ndes01 stops at 11:38 (after
    # a Windows update) and is started again at 11:58. The Android phone gets 504 at 11:41, the
    # prober at 11:45, and the laptop's request of 11:47 never reaches either server.
    android = []
    t = at("11:41:03", 114000)
    android += [
        omadm(t, CERTMGR, "There are 1 requests", pid=23980, tid=10),
        omadm(t, CERTMGR, "Trying to enroll certificate request: ModelName=AC_51bad41f-3854-4eb5-"
              "a2f2-0f7a94034ee8%2FLogicalName_39907e78_e61b_4730_b9fa_d44a53e4111c;Hash="
              "1677525787", pid=23980, tid=10),
        omadm(t + dt.timedelta(milliseconds=1312), GET_TRANSPORT,
              f"Sending GetCACaps(ca) to {ENDPOINT}?operation=GetCACaps&message=ca",
              pid=23980, tid=10),
        omadm(t + dt.timedelta(seconds=31, milliseconds=425), GET_TRANSPORT,
              f"Received '504 Gateway Timeout' when sending GetCACaps(ca) to {ENDPOINT}"
              "?operation=GetCACaps&message=ca", pid=23980, tid=10),
        omadm(t + dt.timedelta(seconds=31, milliseconds=440), CERTMGR,
              "Failed to enroll certificate: org.jscep.transport.TransportException: 504 "
              "Gateway Timeout", pid=23980, tid=10, level="ERROR"),
    ]
    probes01.append(probe(at("11:45:00", 30000), ENDPOINT, "browse", 504, BODY_GATEWAY_TIMEOUT,
                          30021))
    health01 = [
        {"time": "2026-11-20T11:45:02Z", "fact": "service", "kind": "windows_service",
         "name": "WAPCSvc", "display_name": "Microsoft Entra private network connector",
         "state": "Stopped", "start_type": "Automatic"},
    ]
    laptop_events = [event36_text(at("11:47:31"), "WIN-LAPTOP-42.contoso.com")]

    # Row 7: the iPhone's first try lands on ndes02, whose request filtering still has IIS's
    # default maxQueryString (2048): its PKIOperation GET (about 3.5 KB of query) is refused
    # with 404.15. At 12:50 the prober's long-query check (20 KB) is refused by HTTP.sys itself.
    iphone = []
    t = at("12:30:41", 220114)
    q1230 = url_escape_b64(MSG_1230)
    iphone += [
        ios_line(t, "Debug", f"Performing synchronous URL request: {ENDPOINT}?operation="
                 "GetCACert&message=SCEP%20Authority"),
        ios_line(t + dt.timedelta(milliseconds=949), "Debug", "Performing synchronous URL "
                 f"request: {ENDPOINT}?operation=GetCACaps&message=SCEP%20Authority"),
        ios_line(t + dt.timedelta(seconds=1, milliseconds=792), "Default",
                 "Attempting to retrieve issued certificate..."),
        ios_line(t + dt.timedelta(seconds=1, milliseconds=796), "Debug", "Sending CSR via GET."),
        ios_line(t + dt.timedelta(seconds=1, milliseconds=797), "Debug",
                 f"Performing synchronous URL request: {ENDPOINT}?operation=PKIOperation&"
                 f"message={q1230}"),
        ios_line(t + dt.timedelta(seconds=2, milliseconds=310), "Error",
                 "SCEP server returned HTTP status 404"),
        ios_line(t + dt.timedelta(seconds=2, milliseconds=318), "Default",
                 "Profile installation failed: The SCEP server returned an invalid response."),
    ]
    scep_get(n2, at("12:30:41"), "GetCACert", UA_IPHONE)
    scep_get(n2, at("12:30:42"), "GetCACaps", UA_IPHONE)
    scep_get(n2, at("12:30:43"), "PKIOperation", UA_IPHONE, status=404, sub=15,
             message_value=q1230, taken=1)
    health02 = [
        {"time": "2026-11-20T12:40:00Z", "fact": "request_limits", "max_url": 4096,
         "max_query_string": 2048, "max_field_length": 0, "max_request_bytes": 0},
    ]
    long_query = "operation=PKIOperation&message=" + url_escape_b64(
        base64.b64encode(bytes(range(256)) * 58).decode())[:20480 - 31]
    herr("ndes02", at("12:50:00"), IP["ndes02"], 61022, "GET",
         ("/certsrv/mscep/mscep.dll?" + long_query)[:4096], 414, "-", "URL_Length", "-")
    probes02.append(probe(at("12:50:00", 9000), "https://ndes02.contoso.com/certsrv/mscep/"
                          "mscep.dll", "long-query", 414, BODY_414, 9))

    # Rows 16, 17, 1: the laptop retries at 13:20 and gets its certificate through ndes02.
    laptop_events.append(event36_text(at("13:20:05"), "WIN-LAPTOP-42.contoso.com"))
    scep_get(n2, at("13:20:06"), "GetCACaps", UA_WINDOWS, pkiclient=True)
    scep_get(n2, at("13:20:06"), "GetCACert", UA_WINDOWS, pkiclient=True)
    scep_post(n2, at("13:20:08"), UA_WINDOWS, pkiclient=True)
    verify_request(n2, at("13:20:08"), 200)

    # Rows 14, 17, 1: the Android phone retries at 14:05 and succeeds through ndes01.
    t = at("14:05:02", 123000)
    trans_id = "3F1A9C4E7B2D60A58E93C1F4D7B2A6E05C8D9F13"
    android += [
        omadm(t, CERTMGR, "There are 1 requests"),
        omadm(t, CERTMGR, "Trying to enroll certificate request: ModelName=AC_51bad41f-3854-4eb5-"
              "a2f2-0f7a94034ee8%2FLogicalName_39907e78_e61b_4730_b9fa_d44a53e4111c;Hash="
              "1677525787"),
        omadm(t + dt.timedelta(milliseconds=1303), GET_TRANSPORT,
              f"Sending GetCACaps(ca) to {ENDPOINT}?operation=GetCACaps&message=ca"),
        omadm(t + dt.timedelta(seconds=1, milliseconds=610), GET_TRANSPORT,
              f"Received '200 OK' when sending GetCACaps(ca) to {ENDPOINT}"
              "?operation=GetCACaps&message=ca"),
        omadm(t + dt.timedelta(seconds=1, milliseconds=640), GET_TRANSPORT,
              f"Sending GetCACert(ca) to {ENDPOINT}?operation=GetCACert&message=ca"),
        omadm(t + dt.timedelta(seconds=2, milliseconds=380), GET_TRANSPORT,
              f"Received '200 OK' when sending GetCACert(ca) to {ENDPOINT}"
              "?operation=GetCACert&message=ca"),
        omadm(t + dt.timedelta(seconds=3, milliseconds=702), ENCODER,
              "Encoding message: org.jscep.message.PkcsReq@2b06f45f[messageData=org.spongycastle."
              "pkcs.PKCS10CertificationRequest@699b3cd,messageType=PKCS_REQ,senderNonce=Nonce "
              f"[D447AE9955E624A56A09D64E2B3AE76E],transId={trans_id}]"),
        omadm(t + dt.timedelta(seconds=3, milliseconds=760), ENCODER,
              "Signing pkiMessage using key belonging to [dn=CN=maria.silva@contoso.com; "
              "serial=1]"),
        omadm(t + dt.timedelta(seconds=3, milliseconds=838), TRANSACTION,
              "Sending org.spongycastle.cms.CMSSignedData@ad57775"),
        omadm(t + dt.timedelta(seconds=4, milliseconds=511), POST_TRANSPORT,
              f"Received '200 OK' when sending PKIOperation to {ENDPOINT}?operation=PKIOperation"),
    ]
    scep_get(n1, at("14:05:04"), "GetCACaps", UA_PIXEL)
    scep_get(n1, at("14:05:04"), "GetCACert", UA_PIXEL)
    scep_post(n1, at("14:05:06"), UA_PIXEL)
    verify_request(n1, at("14:05:06"), 200)

    # Rows 15, 17, 1: the iPhone retries at 15:30 (10:30 in New York), lands on ndes01, whose
    # limits are 65534, and gets its certificate; the same message is in both logs.
    t = at("15:30:53", 691033)
    q1530 = url_escape_b64(MSG_1530)
    iphone += [
        ios_line(t, "Debug", f"Performing synchronous URL request: {ENDPOINT}?operation="
                 "GetCACert&message=SCEP%20Authority"),
        ios_line(t + dt.timedelta(microseconds=949611), "Debug", "Performing synchronous URL "
                 f"request: {ENDPOINT}?operation=GetCACaps&message=SCEP%20Authority"),
        ios_line(t + dt.timedelta(seconds=1, microseconds=792944), "Default",
                 "Attempting to retrieve issued certificate..."),
        ios_line(t + dt.timedelta(seconds=1, microseconds=796765), "Debug",
                 "Sending CSR via GET."),
        ios_line(t + dt.timedelta(seconds=1, microseconds=796875), "Debug",
                 f"Performing synchronous URL request: {ENDPOINT}?operation=PKIOperation&"
                 f"message={q1530}"),
    ]
    scep_get(n1, at("15:30:53"), "GetCACert", UA_IPHONE)
    scep_get(n1, at("15:30:54"), "GetCACaps", UA_IPHONE)
    scep_get(n1, at("15:30:55"), "PKIOperation", UA_IPHONE, message_value=q1530)
    verify_request(n1, at("15:30:55"), 200)

    # Row 11: ndes01's CEP Encryption certificate expires at 16:00 and the NDES service
    # account is locked out at 16:05: SCEP requests get 500 (win32 status 0) from 16:08.
    for hms, op, ua in (("16:08:12", "GetCACert", BACKGROUND_UAS["android"][1]),
                        ("16:11:40", "GetCACert", BACKGROUND_UAS["ios"][0]),
                        ("16:17:03", "GetCACert", BACKGROUND_UAS["android"][2])):
        scep_get(n1, at(hms), "GetCACaps", ua)
        scep_get(n1, at(hms) + dt.timedelta(seconds=1), op, ua, status=500, win32=0)

    # Row 12: at 16:40 the NDES policy certificate is renewed from a template without Client
    # Authentication; CertificateRegistrationSvc then refuses the plugin's VerifyRequest.
    for hms, ua in (("16:52:19", BACKGROUND_UAS["android"][0]),
                    ("16:58:02", BACKGROUND_UAS["windows"][0])):
        base = at(hms)
        pk = ua == UA_WINDOWS
        scep_get(n1, base, "GetCACaps", ua, pkiclient=pk)
        scep_get(n1, base, "GetCACert", ua, pkiclient=pk)
        scep_post(n1, base + dt.timedelta(seconds=1), ua, pkiclient=pk)
        verify_request(n1, base + dt.timedelta(seconds=1), 403)

    # ndes01 health: the morning snapshot is healthy; the afternoon ones show the faults.
    health01 = [
        {"time": "2026-11-20T07:00:00Z", "fact": "request_limits", "max_url": 65534,
         "max_query_string": 65534, "max_field_length": 65534, "max_request_bytes": 65534},
        {"time": "2026-11-20T07:00:00Z", "fact": "service", "kind": "app_pool", "name": "SCEP",
         "display_name": "SCEP", "state": "Started", "start_type": "Automatic"},
        {"time": "2026-11-20T07:00:00Z", "fact": "iis_authentication",
         "path": "Default Web Site/CertificateRegistrationSvc", "anonymous_enabled": True,
         "windows_enabled": False},
        cert(at("07:00:00"), "ra_signing", "0B7E1D4C9A2F63E85B1C0D7A4E9F2B6C3D8A1E05",
             "CN=NDES01-MSCEP-RA, O=Contoso, C=US", "CN=Contoso Issuing CA, DC=contoso, DC=com",
             "2024-11-21T09:14:00Z", "2026-11-21T09:14:00Z", ["1.3.6.1.4.1.311.20.2.1"]),
    ] + health01 + [
        cert(at("16:12:00"), "ra_encryption", "5D2A8F1E0C9B47A36E1D2F8C0B5A9E7D4C3B2A10",
             "CN=NDES01-MSCEP-RA, O=Contoso, C=US", "CN=Contoso Issuing CA, DC=contoso, DC=com",
             "2024-11-20T16:00:00Z", "2026-11-20T16:00:00Z", ["1.3.6.1.4.1.311.20.2.1"]),
        {"time": "2026-11-20T16:12:00Z", "fact": "service_account",
         "account": "CONTOSO\\svc-ndes", "locked_out": True, "password_expired": False,
         "disabled": False, "password_expires": "2027-02-14T09:30:00Z"},
        cert(at("16:55:00"), "ndes_policy", "A41C7E2B9D0F58C36A1E4B7D2C9F0E8A5B3D6C17",
             "CN=ndes01.contoso.com", "CN=Contoso Issuing CA, DC=contoso, DC=com",
             "2026-11-20T16:40:00Z", "2027-11-20T16:40:00Z", ["1.3.6.1.5.5.7.3.1"],
             ["ndes01.contoso.com"]),
    ]
    health02 = [
        {"time": "2026-11-20T07:00:00Z", "fact": "iis_authentication",
         "path": "Default Web Site/CertificateRegistrationSvc", "anonymous_enabled": True,
         "windows_enabled": False},
        cert(at("07:00:00"), "ndes_policy", "7E3B1A9C5D2F084E6B1C9A3D7F2E5B0C8A4D6E92",
             "CN=ndes02.contoso.com", "CN=Contoso Issuing CA, DC=contoso, DC=com",
             "2026-03-02T11:20:00Z", "2027-03-02T11:20:00Z", ["1.3.6.1.5.5.7.3.2"],
             ["ndes02.contoso.com"]),
        # Row 5 cause (a): a group policy put the issuing CA (not self-signed) into Root.
        cert(at("10:10:00"), "root_store_intermediate", "C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14",
             "CN=Contoso Issuing CA, DC=contoso, DC=com", "CN=Contoso Root CA, O=Contoso, C=US",
             "2023-05-10T12:00:00Z", "2031-05-10T12:00:00Z", [], store="LocalMachine\\Root"),
        {"time": "2026-11-20T10:10:00Z", "fact": "service", "kind": "app_pool", "name": "SCEP",
         "display_name": "SCEP", "state": "Stopped", "start_type": "Automatic"},
    ] + health02

    app01 = [
        simple_app_event("Microsoft-Windows-Security-SPP", 16384, 4, at("07:01:48", 102000),
                         77410, "ndes01.contoso.com",
                         ["2126-10-27T07:01:48Z", "RulesEngine"], qualifiers=16384),
        simple_app_event("MsiInstaller", 11707, 4, at("07:12:40", 88000), 77414,
                         "ndes01.contoso.com",
                         ["Product: Microsoft Intune Connector -- Installation completed "
                          "successfully.", "(NULL)", "(NULL)", "(NULL)", "(NULL)", "(NULL)", ""]),
        simple_app_event("MsiInstaller", 1033, 4, at("07:12:40", 190000), 77415,
                         "ndes01.contoso.com",
                         ["Microsoft Intune Connector", "6.2301.1.0", "1033", "0",
                          "Microsoft Corporation", "(NULL)", ""]),
        simple_app_event("Microsoft-Windows-IIS-W3SVC-WP", 3201, 4, at("09:24:31"),
                         77431, "ndes01.contoso.com", ["SCEP"], qualifiers=16384),
    ]
    capi01 = [ps_event(
        30, 4, "Information", 30, "Verify Chain Policy", 2, "Stop", 3311, at("07:12:35", 400000),
        "ndes01.contoso.com", "Verify Chain Policy\r\n  Policy: CERT_CHAIN_POLICY_BASE\r\n  "
        "Certificate: CN=ndes01.contoso.com\r\n  Result: The operation completed successfully. "
        "(0)", 4412, 3980)]

    # Write everything.
    for host in ("ndes01", "ndes02"):
        iis[host].write(f"{host}/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log")
        httperr_file(f"{host}/Windows/System32/LogFiles/HTTPERR/httperr1.log", httperr[host])
    write_text("ndes01/eventlogs/Application.xml", "\r\n".join(app01) + "\r\n")
    write_text("ndes02/eventlogs/Application.xml",
               "\r\n".join(sorted(app02, key=lambda e: e.split("SystemTime='")[1])) + "\r\n")
    write_text("ndes01/eventlogs/CAPI2-Operational.xml", ps_document(capi01))
    write_text("ndes02/eventlogs/CAPI2-Operational.xml", ps_document(capi02))
    write_text("ndes01/IntuneConnector/SetupMsi.log",
               setupmsi(at("07:10:02", 513000), at("07:12:40", 8000), 0))
    write_text("ndes02/IntuneConnector/SetupMsi.log",
               setupmsi(at("07:39:47", 201000), at("07:41:22", 306000), 1603))
    write_text("ndes01/health.jsonl", jsonl(sorted(health01, key=lambda r: r["time"])))
    write_text("ndes02/health.jsonl", jsonl(sorted(health02, key=lambda r: r["time"])))
    write_text("ndes01/probe.jsonl", jsonl(sorted(probes01, key=lambda r: r["time"])))
    write_text("ndes02/probe.jsonl", jsonl(sorted(probes02, key=lambda r: r["time"])))
    write_text("android-pixel7/omadmlog.log", "\n".join(android) + "\n")
    header = ("Timestamp                       Thread     Type        Activity             PID"
              "    TTL  ")
    write_text("iphone-anna/profiled.log", "\n".join([header] + iphone) + "\n")
    write_mdm_zip("win-laptop-42/MDMDiagReport.zip", "".join(e + "\r\n" for e in laptop_events))

    for name in ("iphone-anna-1230", "iphone-anna-1530"):
        print(f"{name}: transactionID {transaction_id(name)}")


def write_mdm_zip(rel, event_text):
    """The laptop's MDM diagnostics zip: the Admin channel as Event Viewer text. Fixed entry
    timestamps keep the zip byte-identical across runs."""
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    entries = [
        ("DeviceManagement-Enterprise-Diagnostics-Provider-Admin.txt", event_text),
        ("MDMDiagReport.txt",
         "MDM Diagnostics Report\r\nDevice name: WIN-LAPTOP-42\r\nEnrollment: Microsoft Intune "
         "(MDM)\r\nSCEP profile: Contoso Wi-Fi user certificate\r\nNDES URL: "
         f"{ENDPOINT_PKICLIENT}\r\n"),
    ]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 20, 13, 40, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, text.encode("utf-8"))


if __name__ == "__main__":
    main()
