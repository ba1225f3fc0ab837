-- Sample rows for the reader queries and the replay check (tests only, never applied by the
-- service). Run after the migrations:
--
--   scripts/chdb-check.sh --both analyzer/schema/0*.sql analyzer/schema/testdata/sample_rows.sql \
--       analyzer/schema/queries/*.sql analyzer/schema/testdata/replay_check.sql
--
-- The rows are those the analyzer derives from testdata/samples (the Contoso day, README there):
-- ndes02's SCEP pool crashing at 10:01-10:11 with an intermediate CA in its Root store, the
-- 503s it answered, the iPhone whose PKIOperation GET was refused as too long at 12:30, the
-- Android phone that got 504 from the application proxy at 11:41. IDs, texts and excerpts are
-- the sample's (long excerpts shortened); the time columns are moved so that the sample's
-- 10:00:00 is four hours before the start of the current hour, because the reader queries look
-- at the last hours and day before now(). One anchor, computed once into `sample_clock`, keeps
-- every row consistent even when the hour turns during the run.
--
-- Some IDs are written twice on purpose, as the analyzer does: an attempt and an incident
-- revised by a later version, an attempt the analyzer retracted, a health fact and a watermark
-- observed twice.
CREATE TABLE IF NOT EXISTS sample_clock ENGINE = Memory
AS SELECT toDateTime(intDiv(toUInt32(now()), 3600) * 3600 - 4 * 3600, 'UTC') AS t0;

-- ---------------------------------------------------------------------------------------------
-- events: one of each payload kind
-- ---------------------------------------------------------------------------------------------

-- ndes02 IIS: GetCACaps answered 503 at 10:02:00 and 10:02:01 (the pool is crashing)
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, iis_server_ip,
    iis_server_port, iis_client_ip, iis_method, iis_uri_stem, iis_uri_query, iis_user_agent,
    iis_status, iis_substatus, iis_win32_status, iis_time_taken_ms, iis_target, iis_operation,
    iis_query_length)
SELECT
    '9998e8fefae57d2e4ab3bee406864098' AS event_id,
    (toUInt64(t0) + 150) * 1000000 AS version,
    t0 + 120 AS event_time,
    0 AS event_time_micros,
    t0 + 122 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'iis' AS source_kind,
    'C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log' AS source_path,
    '' AS source_stream,
    13869 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 10:02:00 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007) - 503 0 0 31' AS excerpt,
    'iis' AS payload_kind,
    7 AS kafka_partition,
    52311 AS kafka_offset,
    1841 AS batch_sequence,
    '10.20.30.12' AS iis_server_ip,
    443 AS iis_server_port,
    '10.20.30.11' AS iis_client_ip,
    'GET' AS iis_method,
    '/certsrv/mscep/mscep.dll' AS iis_uri_stem,
    'operation=GetCACaps&message=ca' AS iis_uri_query,
    'Dalvik/2.1.0 (Linux; U; Android 14; SM-S921B Build/UP1A.231005.007)' AS iis_user_agent,
    503 AS iis_status,
    0 AS iis_substatus,
    0 AS iis_win32_status,
    31 AS iis_time_taken_ms,
    'mscep' AS iis_target,
    'get_ca_caps' AS iis_operation,
    30 AS iis_query_length
FROM sample_clock;

INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, iis_server_ip,
    iis_server_port, iis_client_ip, iis_method, iis_uri_stem, iis_uri_query, iis_user_agent,
    iis_status, iis_substatus, iis_win32_status, iis_time_taken_ms, iis_target, iis_operation,
    iis_query_length)
SELECT
    '88b5e280f37257221a6ce7d87605a1ba' AS event_id,
    (toUInt64(t0) + 151) * 1000000 AS version,
    t0 + 121 AS event_time,
    0 AS event_time_micros,
    t0 + 123 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'iis' AS source_kind,
    'C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log' AS source_path,
    '' AS source_stream,
    14057 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 10:02:01 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+13;+SM-A536B+Build/TP1A.220624.014) - 503 0 0 31' AS excerpt,
    'iis' AS payload_kind,
    7 AS kafka_partition,
    52311 AS kafka_offset,
    1841 AS batch_sequence,
    '10.20.30.12' AS iis_server_ip,
    443 AS iis_server_port,
    '10.20.30.11' AS iis_client_ip,
    'GET' AS iis_method,
    '/certsrv/mscep/mscep.dll' AS iis_uri_stem,
    'operation=GetCACaps&message=ca' AS iis_uri_query,
    'Dalvik/2.1.0 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)' AS iis_user_agent,
    503 AS iis_status,
    0 AS iis_substatus,
    0 AS iis_win32_status,
    31 AS iis_time_taken_ms,
    'mscep' AS iis_target,
    'get_ca_caps' AS iis_operation,
    30 AS iis_query_length
FROM sample_clock;

-- ndes02 IIS: the iPhone's GetCACert and GetCACaps at 12:30:41-42, answered 200
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, iis_server_ip,
    iis_server_port, iis_client_ip, iis_method, iis_uri_stem, iis_uri_query, iis_user_agent,
    iis_status, iis_substatus, iis_win32_status, iis_time_taken_ms, iis_target, iis_operation,
    iis_query_length)
SELECT
    'e58e4999ef8ff721142fc6e19787b0d9' AS event_id,
    (toUInt64(t0) + 9071) * 1000000 AS version,
    t0 + 9041 AS event_time,
    0 AS event_time_micros,
    t0 + 9043 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'iis' AS source_kind,
    'C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log' AS source_path,
    '' AS source_stream,
    30512 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 12:30:41 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACert&message=SCEP%20Authority 443 - 10.20.30.11 profiled/1.0+CFNetwork/1568.200.51+Darwin/24.1.0 - 200 0 0 46' AS excerpt,
    'iis' AS payload_kind,
    7 AS kafka_partition,
    52790 AS kafka_offset,
    1841 AS batch_sequence,
    '10.20.30.12' AS iis_server_ip,
    443 AS iis_server_port,
    '10.20.30.11' AS iis_client_ip,
    'GET' AS iis_method,
    '/certsrv/mscep/mscep.dll' AS iis_uri_stem,
    'operation=GetCACert&message=SCEP%20Authority' AS iis_uri_query,
    'profiled/1.0 CFNetwork/1568.200.51 Darwin/24.1.0' AS iis_user_agent,
    200 AS iis_status,
    0 AS iis_substatus,
    0 AS iis_win32_status,
    46 AS iis_time_taken_ms,
    'mscep' AS iis_target,
    'get_ca_cert' AS iis_operation,
    44 AS iis_query_length
FROM sample_clock;

INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, iis_server_ip,
    iis_server_port, iis_client_ip, iis_method, iis_uri_stem, iis_uri_query, iis_user_agent,
    iis_status, iis_substatus, iis_win32_status, iis_time_taken_ms, iis_target, iis_operation,
    iis_query_length)
SELECT
    'c5820ce68c3ffc973db759868db2127c' AS event_id,
    (toUInt64(t0) + 9072) * 1000000 AS version,
    t0 + 9042 AS event_time,
    0 AS event_time_micros,
    t0 + 9044 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'iis' AS source_kind,
    'C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log' AS source_path,
    '' AS source_stream,
    30703 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 12:30:42 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=SCEP%20Authority 443 - 10.20.30.11 profiled/1.0+CFNetwork/1568.200.51+Darwin/24.1.0 - 200 0 0 31' AS excerpt,
    'iis' AS payload_kind,
    7 AS kafka_partition,
    52790 AS kafka_offset,
    1841 AS batch_sequence,
    '10.20.30.12' AS iis_server_ip,
    443 AS iis_server_port,
    '10.20.30.11' AS iis_client_ip,
    'GET' AS iis_method,
    '/certsrv/mscep/mscep.dll' AS iis_uri_stem,
    'operation=GetCACaps&message=SCEP%20Authority' AS iis_uri_query,
    'profiled/1.0 CFNetwork/1568.200.51 Darwin/24.1.0' AS iis_user_agent,
    200 AS iis_status,
    0 AS iis_substatus,
    0 AS iis_win32_status,
    31 AS iis_time_taken_ms,
    'mscep' AS iis_target,
    'get_ca_caps' AS iis_operation,
    44 AS iis_query_length
FROM sample_clock;

-- ndes02 IIS: the iPhone's PKIOperation GET refused by request filtering (404.15); its
-- pkiMessage decoded from the query
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, iis_server_ip,
    iis_server_port, iis_client_ip, iis_method, iis_uri_stem, iis_uri_query, iis_user_agent,
    iis_status, iis_substatus, iis_win32_status, iis_time_taken_ms, iis_target, iis_operation,
    iis_query_length, scep_present, scep_transaction_id, scep_message_type, scep_sender_nonce,
    scep_fail_info, scep_signer_subject, scep_signer_issuer, scep_signer_not_before,
    scep_signer_not_after, scep_digest_algorithm, scep_signature_algorithm, scep_complete,
    scep_bytes_available, scep_bytes_declared)
SELECT
    '1764ebd9a7076e5b7bf3f014cf5f982f' AS event_id,
    (toUInt64(t0) + 9073) * 1000000 AS version,
    t0 + 9043 AS event_time,
    0 AS event_time_micros,
    t0 + 9045 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'iis' AS source_kind,
    'C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log' AS source_path,
    '' AS source_stream,
    30894 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 12:30:43 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=PKIOperation&message=MIIJwwYJKoZIhvcNAQcCoIIJtDCCCbACAQExCTAHBgUrDgMCGjCCBF4GCSqGSIb3DQEHAaCCBE8EggRLMIIERwYJKoZIhvcNAQcDoIIEODCCBDQCAQAxggFbMIIBVwIBADBBMDwxCzAJBgNVBAYTAlVTMRAwDgYDVQQKEwdDb250b3NvMRswGQYDVQQLExJDb250b3NvIElzc3VpbmcgQ0ECAQEwCwYJKoZIhvcNAQEBBIIBAD90DcUhBfwayoqnpEUYGKoJdwSitf4pYbG79L2SvUXDgdRrekxe5l7h0c9JD071sOtE' AS excerpt,
    'iis' AS payload_kind,
    7 AS kafka_partition,
    52790 AS kafka_offset,
    1841 AS batch_sequence,
    '10.20.30.12' AS iis_server_ip,
    443 AS iis_server_port,
    '10.20.30.11' AS iis_client_ip,
    'GET' AS iis_method,
    '/certsrv/mscep/mscep.dll' AS iis_uri_stem,
    '/certsrv/mscep/mscep.dll' AS iis_uri_query,
    'profiled/1.0 CFNetwork/1568.200.51 Darwin/24.1.0' AS iis_user_agent,
    404 AS iis_status,
    15 AS iis_substatus,
    0 AS iis_win32_status,
    0 AS iis_time_taken_ms,
    'mscep' AS iis_target,
    'pki_operation' AS iis_operation,
    3525 AS iis_query_length,
    1 AS scep_present,
    'A+e6haGBU1l2mLYRlr4ZK7gtHmU=' AS scep_transaction_id,
    'pkcs_req' AS scep_message_type,
    '5274740aa6521cb4b4bbf94bef4a8cc8' AS scep_sender_nonce,
    -1 AS scep_fail_info,
    'CN=SCEP SIGNER,O=Contoso' AS scep_signer_subject,
    'CN=SCEP SIGNER,O=Contoso' AS scep_signer_issuer,
    toDateTime('2026-11-26 22:27:15', 'UTC') AS scep_signer_not_before,
    toDateTime('2026-11-26 23:27:15', 'UTC') AS scep_signer_not_after,
    'sha1' AS scep_digest_algorithm,
    'sha1WithRSAEncryption' AS scep_signature_algorithm,
    1 AS scep_complete,
    2503 AS scep_bytes_available,
    2503 AS scep_bytes_declared
FROM sample_clock;

-- ndes02 HTTP.sys: 503 QueueFull at 10:05:13 (no worker for the SCEP pool)
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, httperr_client_ip,
    httperr_client_port, httperr_server_ip, httperr_server_port, httperr_protocol_version,
    httperr_method, httperr_url, httperr_status, httperr_site_id, httperr_reason,
    httperr_queue_name, httperr_target, httperr_url_length)
SELECT
    '2d72489bae23cfd9a33a5dccd3bfc209' AS event_id,
    (toUInt64(t0) + 343) * 1000000 AS version,
    t0 + 313 AS event_time,
    0 AS event_time_micros,
    t0 + 315 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'httperr' AS source_kind,
    'C:\\Windows\\System32\\LogFiles\\HTTPERR\\httperr1.log' AS source_path,
    '' AS source_stream,
    969 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 10:05:13 10.20.30.11 64108 10.20.30.12 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca - 503 1 QueueFull SCEP' AS excerpt,
    'httperr' AS payload_kind,
    7 AS kafka_partition,
    52325 AS kafka_offset,
    1843 AS batch_sequence,
    '10.20.30.11' AS httperr_client_ip,
    64108 AS httperr_client_port,
    '10.20.30.12' AS httperr_server_ip,
    443 AS httperr_server_port,
    'HTTP/1.1' AS httperr_protocol_version,
    'GET' AS httperr_method,
    '/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca' AS httperr_url,
    503 AS httperr_status,
    '1' AS httperr_site_id,
    'QueueFull' AS httperr_reason,
    'SCEP' AS httperr_queue_name,
    'mscep' AS httperr_target,
    55 AS httperr_url_length
FROM sample_clock;

-- ndes02 HTTP.sys: the prober's 20 KB query refused, 414 URL_Length at 12:50
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, httperr_client_ip,
    httperr_client_port, httperr_server_ip, httperr_server_port, httperr_protocol_version,
    httperr_method, httperr_url, httperr_status, httperr_site_id, httperr_reason,
    httperr_target, httperr_url_length)
SELECT
    '2d508a33f4d087a86f7e3e3e3f0ebd45' AS event_id,
    (toUInt64(t0) + 10230) * 1000000 AS version,
    t0 + 10200 AS event_time,
    0 AS event_time_micros,
    t0 + 10202 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'httperr' AS source_kind,
    'C:\\Windows\\System32\\LogFiles\\HTTPERR\\httperr1.log' AS source_path,
    '' AS source_stream,
    2211 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 12:50:00 10.20.30.12 61022 10.20.30.12 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=PKIOperation&message=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0%2BP0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn%2BAg' AS excerpt,
    'httperr' AS payload_kind,
    7 AS kafka_partition,
    52955 AS kafka_offset,
    1843 AS batch_sequence,
    '10.20.30.12' AS httperr_client_ip,
    61022 AS httperr_client_port,
    '10.20.30.12' AS httperr_server_ip,
    443 AS httperr_server_port,
    'HTTP/1.1' AS httperr_protocol_version,
    'GET' AS httperr_method,
    'GET' AS httperr_url,
    414 AS httperr_status,
    '1' AS httperr_site_id,
    'URL_Length' AS httperr_reason,
    'mscep' AS httperr_target,
    20530 AS httperr_url_length
FROM sample_clock;

-- ndes02 Application log: w3wp.exe crashes in ntdll.dll at 10:01:58.412 and 10:03:41.095
-- (event 1000; the position is the event record number)
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, crash_application,
    crash_application_version, crash_module, crash_module_version, crash_exception_code,
    crash_fault_offset, crash_process_id)
SELECT
    'a9f4f5b29a6e711169e16294eecff937' AS event_id,
    (toUInt64(t0) + 148) * 1000000 AS version,
    t0 + 118 AS event_time,
    412000 AS event_time_micros,
    t0 + 120 AS observed_time,
    662000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'event-log' AS source_kind,
    'Application' AS source_path,
    '' AS source_stream,
    48215 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreated SystemTime=\'2026-11-20T10:01:58.4120000Z\'/><EventRecordID>48215</EventRecordID><Correlation/><Execution ProcessID=\'0\' ThreadID=\'0\'/><Channel>Application</Channel><Computer>ndes02.contoso.com</Computer><Security/></System><EventData><Data Name=\'AppName\'>w3wp.exe</Data><Data Name=\'AppVersion\'>10.0.2' AS excerpt,
    'app_crash' AS payload_kind,
    7 AS kafka_partition,
    52309 AS kafka_offset,
    1842 AS batch_sequence,
    'w3wp.exe' AS crash_application,
    '10.0.20348.1' AS crash_application_version,
    'ntdll.dll' AS crash_module,
    '10.0.20348.2849' AS crash_module_version,
    '0xc0000005' AS crash_exception_code,
    '0x000000000002b1f4' AS crash_fault_offset,
    7996 AS crash_process_id
FROM sample_clock;

INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, crash_application,
    crash_application_version, crash_module, crash_module_version, crash_exception_code,
    crash_fault_offset, crash_process_id)
SELECT
    'ca95f2a337b0abb9e6bade595a9806a7' AS event_id,
    (toUInt64(t0) + 251) * 1000000 AS version,
    t0 + 221 AS event_time,
    95000 AS event_time_micros,
    t0 + 223 AS observed_time,
    345000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'event-log' AS source_kind,
    'Application' AS source_path,
    '' AS source_stream,
    48218 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreated SystemTime=\'2026-11-20T10:03:41.0950000Z\'/><EventRecordID>48218</EventRecordID><Correlation/><Execution ProcessID=\'0\' ThreadID=\'0\'/><Channel>Application</Channel><Computer>ndes02.contoso.com</Computer><Security/></System><EventData><Data Name=\'AppName\'>w3wp.exe</Data><Data Name=\'AppVersion\'>10.0.2' AS excerpt,
    'app_crash' AS payload_kind,
    7 AS kafka_partition,
    52318 AS kafka_offset,
    1842 AS batch_sequence,
    'w3wp.exe' AS crash_application,
    '10.0.20348.1' AS crash_application_version,
    'ntdll.dll' AS crash_module,
    '10.0.20348.2849' AS crash_module_version,
    '0xc0000005' AS crash_exception_code,
    '0x000000000002b1f4' AS crash_fault_offset,
    10888 AS crash_process_id
FROM sample_clock;

-- ndes02 CAPI2: CRL retrieval (53) and revocation (41) failures at 10:01:57
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, capi2_event_id,
    capi2_kind, capi2_task, capi2_result)
SELECT
    '377a6400e61e053474b48c15c9295f6b' AS event_id,
    (toUInt64(t0) + 147) * 1000000 AS version,
    t0 + 117 AS event_time,
    0 AS event_time_micros,
    t0 + 119 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'event-log' AS source_kind,
    'Microsoft-Windows-CAPI2/Operational' AS source_path,
    '' AS source_stream,
    9120 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '<Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">\r\n    <Property Name="Id" Type="System.Int32">53</Property>\r\n    <Property Name="Version" Type="System.Nullable`1[[System.Byte, System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]">0</Property>\r\n' AS excerpt,
    'capi2' AS payload_kind,
    7 AS kafka_partition,
    52308 AS kafka_offset,
    1842 AS batch_sequence,
    53 AS capi2_event_id,
    'retrieval' AS capi2_kind,
    'Retrieve Object from Network' AS capi2_task,
    'For more details for this event, please refer to the "Details" section' AS capi2_result
FROM sample_clock;

INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, capi2_event_id,
    capi2_kind, capi2_task, capi2_result)
SELECT
    '2dd80631f712f246e65238acd82e09c0' AS event_id,
    (toUInt64(t0) + 147) * 1000000 AS version,
    t0 + 117 AS event_time,
    0 AS event_time_micros,
    t0 + 119 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'event-log' AS source_kind,
    'Microsoft-Windows-CAPI2/Operational' AS source_path,
    '' AS source_stream,
    9121 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '<Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">\r\n    <Property Name="Id" Type="System.Int32">41</Property>\r\n    <Property Name="Version" Type="System.Nullable`1[[System.Byte, System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]">0</Property>\r\n' AS excerpt,
    'capi2' AS payload_kind,
    7 AS kafka_partition,
    52308 AS kafka_offset,
    1842 AS batch_sequence,
    41 AS capi2_event_id,
    'revocation' AS capi2_kind,
    'Verify Revocation' AS capi2_task,
    'For more details for this event, please refer to the "Details" section' AS capi2_result
FROM sample_clock;

-- ndes02 SetupMsi.log: the connector's install failed with 1603 at 07:41:22.400
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, install_status,
    install_product_name, install_product_version, install_completed, install_errors)
SELECT
    'fec8d559c8e90ce697f11c2eca95207c' AS event_id,
    (toUInt64(t0) + -8288) * 1000000 AS version,
    t0 - 8318 AS event_time,
    400000 AS event_time_micros,
    t0 - 8316 AS observed_time,
    650000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'setup-msi' AS source_kind,
    'C:\\Program Files\\Microsoft Intune\\NDESConnectorSvc\\Logs\\SetupMsi.log' AS source_path,
    '' AS source_stream,
    1219 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    'MSI (s) (A4:3C) [07:41:22:400]: Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.2301.1.0. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 1603.' AS excerpt,
    'connector_install' AS payload_kind,
    7 AS kafka_partition,
    49870 AS kafka_offset,
    1790 AS batch_sequence,
    1603 AS install_status,
    'Microsoft Intune Connector' AS install_product_name,
    '6.2301.1.0' AS install_product_version,
    0 AS install_completed,
    ['CustomAction InstallNDESConnectorService returned actual error code 1603 (note this may not be 100% accurate if translation happened inside sandbox)', 'Action ended 07:41:19: InstallNDESConnectorService. Return value 3.', 'Action ended 07:41:21: INSTALL. Return value 3.'] AS install_errors
FROM sample_clock;

-- ndes02's prober: the SCEP URL of ndes02 answered 503 at 10:08:00.012
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, probe_url,
    probe_check, probe_status, probe_page, probe_elapsed_ms)
SELECT
    'ff26f107321b98c00c7be631ae057c73' AS event_id,
    (toUInt64(t0) + 510) * 1000000 AS version,
    t0 + 480 AS event_time,
    12000 AS event_time_micros,
    t0 + 482 AS observed_time,
    262000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'probe' AS source_kind,
    'probe:https://ndes02.contoso.com/certsrv/mscep/mscep.dll' AS source_path,
    '' AS source_stream,
    822 AS position,
    'https://ndes02.contoso.com/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes02.contoso.com/certsrv/mscep/mscep.dll' AS endpoint,
    '{"time":"2026-11-20T10:08:00.012000Z","url":"https://ndes02.contoso.com/certsrv/mscep/mscep.dll","check":"browse","status":503,"substatus":0,"body":"<!DOCTYPE HTML PUBLIC \\"-//W3C//DTD HTML 4.01//EN\\"\\"http://www.w3.org/TR/html4/strict.dtd\\">\\r\\n<HTML><HEAD><TITLE>Service Unavailable</TITLE>\\r\\n<META HTTP-EQUIV=\\"Content-Type\\" Content=\\"text/html; charset=us-ascii\\"></HEAD>\\r\\n<BODY><h2>Service Unavailable</h2>\\r\\n<hr><p>HTTP Error 503. The service is unavailable.</p>\\r\\n</BODY></HTML>\\r\\n","error":null,"elapsed_ms":12}' AS excerpt,
    'probe' AS payload_kind,
    3 AS kafka_partition,
    18842 AS kafka_offset,
    1845 AS batch_sequence,
    'https://ndes02.contoso.com/certsrv/mscep/mscep.dll' AS probe_url,
    'browse' AS probe_check,
    503 AS probe_status,
    'service_unavailable' AS probe_page,
    12 AS probe_elapsed_ms
FROM sample_clock;

-- ndes02 health snapshot at 10:10: an intermediate CA in LocalMachine\Root, the SCEP pool
-- stopped; at 12:40: request limits 4096 / 2048
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, health_fact,
    cert_role, cert_store, cert_thumbprint, cert_subject, cert_issuer, cert_not_before,
    cert_not_after)
SELECT
    '3893a3e59c26b5377026d14edc364e76' AS event_id,
    (toUInt64(t0) + 630) * 1000000 AS version,
    t0 + 600 AS event_time,
    0 AS event_time_micros,
    t0 + 602 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'health' AS source_kind,
    'health' AS source_path,
    '' AS source_stream,
    412 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '{"time":"2026-11-20T10:10:00Z","fact":"certificate","role":"root_store_intermediate","store":"LocalMachine\\\\Root","thumbprint":"C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14","subject":"CN=Contoso Issuing CA, DC=contoso, DC=com","issuer":"CN=Contoso Root CA, O=Contoso, C=US","not_before":"2023-05-10T12:00:00Z","not_after":"2031-05-10T12:00:00Z","eku":[],"dns_names":[]}' AS excerpt,
    'health' AS payload_kind,
    7 AS kafka_partition,
    52398 AS kafka_offset,
    1846 AS batch_sequence,
    'certificate' AS health_fact,
    'root_store_intermediate' AS cert_role,
    'LocalMachine\\Root' AS cert_store,
    'C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14' AS cert_thumbprint,
    'CN=Contoso Issuing CA, DC=contoso, DC=com' AS cert_subject,
    'CN=Contoso Root CA, O=Contoso, C=US' AS cert_issuer,
    toDateTime('2023-05-10 12:00:00', 'UTC') AS cert_not_before,
    toDateTime('2031-05-10 12:00:00', 'UTC') AS cert_not_after
FROM sample_clock;

INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, health_fact,
    service_kind, service_name, service_display_name, service_state, service_start_type)
SELECT
    'ad7b0eb48c592828a610cee020229d54' AS event_id,
    (toUInt64(t0) + 630) * 1000000 AS version,
    t0 + 600 AS event_time,
    0 AS event_time_micros,
    t0 + 602 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'health' AS source_kind,
    'health' AS source_path,
    '' AS source_stream,
    760 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '{"time":"2026-11-20T10:10:00Z","fact":"service","kind":"app_pool","name":"SCEP","display_name":"SCEP","state":"Stopped","start_type":"Automatic"}' AS excerpt,
    'health' AS payload_kind,
    7 AS kafka_partition,
    52398 AS kafka_offset,
    1846 AS batch_sequence,
    'service' AS health_fact,
    'app_pool' AS service_kind,
    'SCEP' AS service_name,
    'SCEP' AS service_display_name,
    'Stopped' AS service_state,
    'Automatic' AS service_start_type
FROM sample_clock;

INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, health_fact,
    limits_max_url, limits_max_query_string)
SELECT
    'f7a29ec059b4d11f57e947ce57c2299c' AS event_id,
    (toUInt64(t0) + 9630) * 1000000 AS version,
    t0 + 9600 AS event_time,
    0 AS event_time_micros,
    t0 + 9602 AS observed_time,
    250000 AS observed_time_micros,
    'ndes02' AS collector,
    'ndes02' AS host,
    'health' AS source_kind,
    'health' AS source_path,
    '' AS source_stream,
    908 AS position,
    '' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '{"time":"2026-11-20T12:40:00Z","fact":"request_limits","max_url":4096,"max_query_string":2048,"max_field_length":0,"max_request_bytes":0}' AS excerpt,
    'health' AS payload_kind,
    7 AS kafka_partition,
    52871 AS kafka_offset,
    1846 AS batch_sequence,
    'request_limits' AS health_fact,
    4096 AS limits_max_url,
    2048 AS limits_max_query_string
FROM sample_clock;

-- iPhone profiled log: the PKIOperation URL request at 12:30:43.017114 (its pkiMessage
-- decoded: the same transactionID as the IIS record) and the error that followed
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, ios_step, ios_process,
    ios_url, ios_operation, scep_present, scep_transaction_id, scep_message_type,
    scep_sender_nonce, scep_fail_info, scep_signer_subject, scep_signer_issuer,
    scep_signer_not_before, scep_signer_not_after, scep_digest_algorithm,
    scep_signature_algorithm, scep_complete, scep_bytes_available, scep_bytes_declared)
SELECT
    '75a67ef4c003703cde182faaa9f77b20' AS event_id,
    (toUInt64(t0) + 9073) * 1000000 AS version,
    t0 + 9043 AS event_time,
    17114 AS event_time_micros,
    t0 + 9045 AS observed_time,
    267114 AS observed_time_micros,
    'upload-01' AS collector,
    'iphone-anna' AS host,
    'ios-console' AS source_kind,
    'uploads/iphone-anna/profiled.log' AS source_path,
    '' AS source_stream,
    957 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 07:30:43.017114-0500  0x1a2b3c   Debug       0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] Performing synchronous URL request: https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=PKIOperation&message=MIIJwwYJKoZIhvcNAQcCoIIJtDCCCbACAQExCTAHBgUrDgMCGjCCBF4GCSqGSIb3DQEHAaCCBE8EggRLMIIERwYJKoZIhvcNAQcDoIIEODCCBDQCAQAxggFbMIIBVwIBADBBMDwxCzAJBgN' AS excerpt,
    'ios' AS payload_kind,
    7 AS kafka_partition,
    52801 AS kafka_offset,
    77 AS batch_sequence,
    'url_request' AS ios_step,
    'profiled' AS ios_process,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=PKIOperation&message=MIIJwwYJKoZIhvcNAQcCoIIJtDCCCbACAQExCTAHBgUrDgMCGjCCBF4GCSqGSIb3DQEHAaCCBE8EggRLMIIERwYJKoZIhvcNAQcDoIIEODCCBDQCAQAxggFbMIIBVwIBADBBMDwxCzAJBgNVBAYTAlVTMRAwDgYDVQQKEwdDb250b3NvMRswGQYDVQQLExJDb250b3NvIElzc3VpbmcgQ0ECAQEwCwYJKoZIhvcNAQEBBIIBAD90DcUhBfwayoqnpEUYGKoJdwSitf4pYbG79L2SvUXDgdRrekxe5l7h0c9JD071sOtEeAEAYW9XIm5qke%2B4OZGFtexPgz67bD3FdxiLurASgAO0hU6qFt7IfY5sBKWIbWkEEu0%2F90o4M5UVOZOzOxf5f31sIZdGjEq9ciF%2BVEwAg7y' AS ios_url,
    'pki_operation' AS ios_operation,
    1 AS scep_present,
    'A+e6haGBU1l2mLYRlr4ZK7gtHmU=' AS scep_transaction_id,
    'pkcs_req' AS scep_message_type,
    '5274740aa6521cb4b4bbf94bef4a8cc8' AS scep_sender_nonce,
    -1 AS scep_fail_info,
    'CN=SCEP SIGNER,O=Contoso' AS scep_signer_subject,
    'CN=SCEP SIGNER,O=Contoso' AS scep_signer_issuer,
    toDateTime('2026-11-26 22:27:15', 'UTC') AS scep_signer_not_before,
    toDateTime('2026-11-26 23:27:15', 'UTC') AS scep_signer_not_after,
    'sha1' AS scep_digest_algorithm,
    'sha1WithRSAEncryption' AS scep_signature_algorithm,
    1 AS scep_complete,
    2503 AS scep_bytes_available,
    2503 AS scep_bytes_declared
FROM sample_clock;

INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, ios_step, ios_process,
    ios_error, ios_http_status_code)
SELECT
    '3106257ada84605f55e1700c9b40b0c6' AS event_id,
    (toUInt64(t0) + 9073) * 1000000 AS version,
    t0 + 9043 AS event_time,
    530114 AS event_time_micros,
    t0 + 9045 AS observed_time,
    780114 AS observed_time_micros,
    'upload-01' AS collector,
    'iphone-anna' AS host,
    'ios-console' AS source_kind,
    'uploads/iphone-anna/profiled.log' AS source_path,
    '' AS source_stream,
    1530 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20 07:30:43.530114-0500  0x1a2b3c   Error       0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] SCEP server returned HTTP status 404' AS excerpt,
    'ios' AS payload_kind,
    7 AS kafka_partition,
    52801 AS kafka_offset,
    77 AS batch_sequence,
    'error' AS ios_step,
    'profiled' AS ios_process,
    'SCEP server returned HTTP status 404' AS ios_error,
    404 AS ios_http_status_code
FROM sample_clock;

-- Android OMADM log: 504 Gateway Timeout from the application proxy at 11:41:34.539
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence, android_step,
    android_component, android_process_id, android_thread_id, android_url, android_operation,
    android_http_status, android_http_status_code)
SELECT
    '40eb6a33b46974889b2c2e062968b711' AS event_id,
    (toUInt64(t0) + 6124) * 1000000 AS version,
    t0 + 6094 AS event_time,
    539000 AS event_time_micros,
    t0 + 6096 AS observed_time,
    789000 AS observed_time_micros,
    'upload-01' AS collector,
    'android-pixel7' AS host,
    'android-omadm' AS source_kind,
    'uploads/android-pixel7/omadmlog.log' AS source_path,
    '' AS source_stream,
    612 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    '2026-11-20T11:41:34.5390000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  23980    10  Received \'504 Gateway Timeout\' when sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca' AS excerpt,
    'android' AS payload_kind,
    7 AS kafka_partition,
    52610 AS kafka_offset,
    74 AS batch_sequence,
    'received' AS android_step,
    'org.jscep.transport.UrlConnectionGetTransport' AS android_component,
    23980 AS android_process_id,
    10 AS android_thread_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca' AS android_url,
    'get_ca_caps' AS android_operation,
    '504 Gateway Timeout' AS android_http_status,
    504 AS android_http_status_code
FROM sample_clock;

-- Windows laptop, DeviceManagement event 36 at 11:47:31: the request was generated
INSERT INTO events (
    event_id, version, event_time, event_time_micros, observed_time, observed_time_micros,
    collector, host, source_kind, source_path, source_stream, position, endpoint_id, endpoint,
    excerpt, payload_kind, kafka_partition, kafka_offset, batch_sequence,
    windows_scep_enhanced_key_usage, windows_scep_ndes_url, windows_scep_ksp_setting,
    windows_scep_store_location, windows_scep_message)
SELECT
    '6db4ddddfb79324d9f3e94fffd7b3f1b' AS event_id,
    (toUInt64(t0) + 6481) * 1000000 AS version,
    t0 + 6451 AS event_time,
    0 AS event_time_micros,
    t0 + 6453 AS observed_time,
    250000 AS observed_time_micros,
    'upload-01' AS collector,
    'win-laptop-42' AS host,
    'event-log' AS source_kind,
    'uploads/win-laptop-42/MDMDiagReport.zip!/DeviceManagement-Enterprise-Diagnostics-Provider-Admin.txt' AS source_path,
    '' AS source_stream,
    0 AS position,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    'Log Name:      Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin\nSource:        Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider\nDate:          11/20/2026 11:47:31 AM\nEvent ID:      36\nTask Category: None\nLevel:         Information\nKeywords:      \nUser:          S-1-5-18\nComputer:      WIN-LAPTOP-42.contoso.com\nDescription:\nSCEP: Certificate request generated successfully. Enhanced Key Usage: (1.3.6.1.5.5.7.3.2), NDES URL: (https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe), Container Name: (), KSP Setting: (0x2), Store Location: (0x1).\n' AS excerpt,
    'windows_scep' AS payload_kind,
    7 AS kafka_partition,
    52655 AS kafka_offset,
    75 AS batch_sequence,
    '1.3.6.1.5.5.7.3.2' AS windows_scep_enhanced_key_usage,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe' AS windows_scep_ndes_url,
    '0x2' AS windows_scep_ksp_setting,
    '0x1' AS windows_scep_store_location,
    'SCEP: Certificate request generated successfully. Enhanced Key Usage: (1.3.6.1.5.5.7.3.2), NDES URL: (https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe), Container Name: (), KSP Setting: (0x2), Store Location: (0x1).' AS windows_scep_message
FROM sample_clock;

-- ---------------------------------------------------------------------------------------------
-- attempts (from the JSON report of `scepwatch diagnose testdata/samples`)
-- ---------------------------------------------------------------------------------------------

-- The server-only attempt behind ndes02's 503s, first written when two requests were in
-- (10:02:00-10:02:01), then revised with a higher version once the session closed at 10:05:14
INSERT INTO attempts (
    attempt_id, version, retracted, endpoint, start_time, start_time_micros, end_time,
    end_time_micros, join_method, confidence, platform, device, servers, client_ip,
    user_agent_family, transaction_ids, diagnosis_codes, severity, steps.time,
    steps.time_micros, steps.side, steps.host, steps.what, steps.event_id)
SELECT
    'e8e999de4afd520c3bb4a0b19acffa6e' AS attempt_id,
    (toUInt64(t0) + 400) * 1000000 AS version,
    0 AS retracted,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 120 AS start_time,
    0 AS start_time_micros,
    t0 + 121 AS end_time,
    0 AS end_time_micros,
    'server_only' AS join_method,
    'high' AS confidence,
    'unknown' AS platform,
    NULL AS device,
    ['ndes02'] AS servers,
    '10.20.30.11' AS client_ip,
    'android' AS user_agent_family,
    CAST([] AS Array(String)) AS transaction_ids,
    ['iis.app_pool_crashing.root_intermediate'] AS diagnosis_codes,
    'critical' AS severity,
    [t0 + 120] AS `steps.time`,
    [0] AS `steps.time_micros`,
    ['server'] AS `steps.side`,
    ['ndes02'] AS `steps.host`,
    ['GetCACaps → 503 (×2 until 2026-11-20T10:02:01Z)'] AS `steps.what`,
    ['9998e8fefae57d2e4ab3bee406864098'] AS `steps.event_id`
FROM sample_clock;

INSERT INTO attempts (
    attempt_id, version, retracted, endpoint, start_time, start_time_micros, end_time,
    end_time_micros, join_method, confidence, platform, device, servers, client_ip,
    user_agent_family, transaction_ids, diagnosis_codes, severity, steps.time,
    steps.time_micros, steps.side, steps.host, steps.what, steps.event_id)
SELECT
    'e8e999de4afd520c3bb4a0b19acffa6e' AS attempt_id,
    (toUInt64(t0) + 760) * 1000000 AS version,
    0 AS retracted,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 120 AS start_time,
    0 AS start_time_micros,
    t0 + 314 AS end_time,
    0 AS end_time_micros,
    'server_only' AS join_method,
    'high' AS confidence,
    'unknown' AS platform,
    NULL AS device,
    ['ndes02'] AS servers,
    '10.20.30.11' AS client_ip,
    'android' AS user_agent_family,
    CAST([] AS Array(String)) AS transaction_ids,
    ['iis.app_pool_crashing.root_intermediate', 'iis.app_pool_crashing.crl_unreachable'] AS diagnosis_codes,
    'critical' AS severity,
    [t0 + 120] AS `steps.time`,
    [0] AS `steps.time_micros`,
    ['server'] AS `steps.side`,
    ['ndes02'] AS `steps.host`,
    ['GetCACaps → 503 (×3 until 2026-11-20T10:05:14Z)'] AS `steps.what`,
    ['9998e8fefae57d2e4ab3bee406864098'] AS `steps.event_id`
FROM sample_clock;

-- The iPhone at 12:30, joined by its SCEP transactionID: request too long (404.15)
INSERT INTO attempts (
    attempt_id, version, retracted, endpoint, start_time, start_time_micros, end_time,
    end_time_micros, join_method, confidence, platform, device, servers, client_ip,
    user_agent_family, transaction_ids, diagnosis_codes, severity, steps.time,
    steps.time_micros, steps.side, steps.host, steps.what, steps.event_id)
SELECT
    '4ad356b27be5b94634c8b7ce11b54f64' AS attempt_id,
    (toUInt64(t0) + 9200) * 1000000 AS version,
    0 AS retracted,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 9041 AS start_time,
    0 AS start_time_micros,
    t0 + 9043 AS end_time,
    538114 AS end_time_micros,
    'transaction_id' AS join_method,
    'high' AS confidence,
    'ios' AS platform,
    'iphone-anna' AS device,
    ['ndes02'] AS servers,
    '10.20.30.11' AS client_ip,
    'ios' AS user_agent_family,
    ['A+e6haGBU1l2mLYRlr4ZK7gtHmU='] AS transaction_ids,
    ['ndes.reached', 'iis.request_too_long', 'device.ios_progress'] AS diagnosis_codes,
    'error' AS severity,
    [t0 + 9041, t0 + 9041, t0 + 9042, t0 + 9042, t0 + 9043, t0 + 9043, t0 + 9043, t0 + 9043, t0 + 9043, t0 + 9043] AS `steps.time`,
    [0, 220114, 0, 169114, 0, 12114, 16114, 17114, 530114, 538114] AS `steps.time_micros`,
    ['server', 'device', 'server', 'device', 'server', 'device', 'device', 'device', 'device', 'device'] AS `steps.side`,
    ['ndes02', 'iphone-anna', 'ndes02', 'iphone-anna', 'ndes02', 'iphone-anna', 'iphone-anna', 'iphone-anna', 'iphone-anna', 'iphone-anna'] AS `steps.host`,
    ['GetCACert → 200', 'URL request GetCACert', 'GetCACaps → 200', 'URL request GetCACaps', 'PKIOperation → 404.15', 'Attempting to retrieve issued certificate', 'Sending CSR via GET', 'URL request PKIOperation', 'Error: SCEP server returned HTTP status 404 (HTTP 404)', 'Error: Profile installation failed: The SCEP server returned an invalid response.'] AS `steps.what`,
    ['e58e4999ef8ff721142fc6e19787b0d9', '0eddcb46a22a25935beb53dcb27accb7', 'c5820ce68c3ffc973db759868db2127c', '4b7498a1017d74d337f8df2bf8eb9bd0', '1764ebd9a7076e5b7bf3f014cf5f982f', '143bb11a3ff8f83a92b72f0885bf9574', '5416fada5c47443dbc07599671f881e1', '75a67ef4c003703cde182faaa9f77b20', '3106257ada84605f55e1700c9b40b0c6', 'c34e52501ab5ead004b432fbe79daa95'] AS `steps.event_id`
FROM sample_clock;

-- The Android phone at 11:41 that got 504 GatewayTimeout from the application proxy
INSERT INTO attempts (
    attempt_id, version, retracted, endpoint, start_time, start_time_micros, end_time,
    end_time_micros, join_method, confidence, platform, device, servers, client_ip,
    user_agent_family, transaction_ids, diagnosis_codes, severity, steps.time,
    steps.time_micros, steps.side, steps.host, steps.what, steps.event_id)
SELECT
    '049db1838585d5a4e4a7c81f94b13e9e' AS attempt_id,
    (toUInt64(t0) + 6400) * 1000000 AS version,
    0 AS retracted,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 6063 AS start_time,
    114000 AS start_time_micros,
    t0 + 6094 AS end_time,
    554000 AS end_time_micros,
    'device_only' AS join_method,
    'high' AS confidence,
    'android' AS platform,
    'android-pixel7' AS device,
    CAST([] AS Array(String)) AS servers,
    NULL AS client_ip,
    'android' AS user_agent_family,
    CAST([] AS Array(String)) AS transaction_ids,
    ['app_proxy.connector_down', 'device.android_progress'] AS diagnosis_codes,
    'critical' AS severity,
    [t0 + 6063, t0 + 6063, t0 + 6064, t0 + 6094, t0 + 6094] AS `steps.time`,
    [114000, 114000, 426000, 539000, 554000] AS `steps.time_micros`,
    ['device', 'device', 'device', 'device', 'device'] AS `steps.side`,
    ['android-pixel7', 'android-pixel7', 'android-pixel7', 'android-pixel7', 'android-pixel7'] AS `steps.host`,
    ['Trying to enroll certificate request AC_51bad41f-3854-4eb5-a2f2-0f7a94034ee8%2FLogicalName_39907e78_e61b_4730_b9fa_d44a53e4111c', 'There are 1 requests', 'Sending GetCACaps', 'Received \'504 Gateway Timeout\' for GetCACaps', 'Error: Failed to enroll certificate: org.jscep.transport.TransportException: 504 Gateway Timeout'] AS `steps.what`,
    ['5b6ffd123de9f6c1c83452e8abcf20ed', '859684a5b5514a9651a87caeb16fda75', 'a0148542953cb927d1c60d4cb15caf6a', '40eb6a33b46974889b2c2e062968b711', '4804ad6b5c5c4294835b31b22342a85a'] AS `steps.event_id`
FROM sample_clock;

-- An attempt the analyzer emitted (not in the sample report) and later withdrew: the latest
-- version says retracted = 1, so readers never show it
INSERT INTO attempts (
    attempt_id, version, retracted, endpoint, start_time, start_time_micros, end_time,
    end_time_micros, join_method, confidence, platform, device, servers, client_ip,
    user_agent_family, transaction_ids, diagnosis_codes, severity, steps.time,
    steps.time_micros, steps.side, steps.host, steps.what, steps.event_id)
SELECT
    '7f3e2a9c41d05b8e6a2f9c1d3e4b5a60' AS attempt_id,
    (toUInt64(t0) + 400) * 1000000 AS version,
    0 AS retracted,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 121 AS start_time,
    0 AS start_time_micros,
    t0 + 121 AS end_time,
    0 AS end_time_micros,
    'server_only' AS join_method,
    'high' AS confidence,
    'unknown' AS platform,
    NULL AS device,
    ['ndes02'] AS servers,
    '10.20.30.11' AS client_ip,
    'android' AS user_agent_family,
    CAST([] AS Array(String)) AS transaction_ids,
    ['iis.app_pool_crashing.root_intermediate'] AS diagnosis_codes,
    'critical' AS severity,
    [t0 + 121] AS `steps.time`,
    [0] AS `steps.time_micros`,
    ['server'] AS `steps.side`,
    ['ndes02'] AS `steps.host`,
    ['GetCACaps → 503'] AS `steps.what`,
    ['88b5e280f37257221a6ce7d87605a1ba'] AS `steps.event_id`
FROM sample_clock;

INSERT INTO attempts (
    attempt_id, version, retracted, endpoint, start_time, start_time_micros, end_time,
    end_time_micros, join_method, confidence, platform, device, servers, client_ip,
    user_agent_family, transaction_ids, diagnosis_codes, severity, steps.time,
    steps.time_micros, steps.side, steps.host, steps.what, steps.event_id)
SELECT
    '7f3e2a9c41d05b8e6a2f9c1d3e4b5a60' AS attempt_id,
    (toUInt64(t0) + 760) * 1000000 AS version,
    1 AS retracted,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 121 AS start_time,
    0 AS start_time_micros,
    t0 + 121 AS end_time,
    0 AS end_time_micros,
    'server_only' AS join_method,
    'high' AS confidence,
    'unknown' AS platform,
    NULL AS device,
    ['ndes02'] AS servers,
    '10.20.30.11' AS client_ip,
    'android' AS user_agent_family,
    CAST([] AS Array(String)) AS transaction_ids,
    ['iis.app_pool_crashing.root_intermediate'] AS diagnosis_codes,
    'critical' AS severity,
    [t0 + 121] AS `steps.time`,
    [0] AS `steps.time_micros`,
    ['server'] AS `steps.side`,
    ['ndes02'] AS `steps.host`,
    ['GetCACaps → 503'] AS `steps.what`,
    ['88b5e280f37257221a6ce7d87605a1ba'] AS `steps.event_id`
FROM sample_clock;

-- ---------------------------------------------------------------------------------------------
-- diagnoses
-- ---------------------------------------------------------------------------------------------

-- The attempt's two causes of the crashes: intermediate CA in Root, unreachable CRLs
INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    'e0d65323f18174ababee33372249695d' AS diagnosis_id,
    (toUInt64(t0) + 760) * 1000000 AS version,
    0 AS retracted,
    'iis.app_pool_crashing.root_intermediate' AS code,
    5 AS catalog_row,
    'critical' AS severity,
    'The SCEP pool crashes: intermediate CA certificates in the Root store' AS title,
    'IIS / HTTP.sys on ndes02 answered 8 request(s) with 503 between 2026-11-20T10:02:00Z and 2026-11-20T10:06:03Z. w3wp.exe crashed 3 time(s) near them: ndes02 at 2026-11-20T10:01:58.412000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:03:41.095000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:05:12.730000Z (module ntdll.dll, exception 0xc0000005). Cause: ndes02 has non-self-signed certificates in its Trusted Root store (CN=Contoso Issuing CA, DC=contoso, DC=com). w3wp.exe crashed near 503 answers, and the server\'s Trusted Root Certification Authorities store holds certificates that are not self-signed (issuer differs from subject). Intermediates in the Root store are a known cause of this crash.' AS explanation,
    'Move the intermediate certificates out of LocalMachine\\Root (into Intermediate Certification Authorities if they are needed) and restart the server. Run `Get-ChildItem cert:\\LocalMachine\\Root | Where-Object { $_.Issuer -ne $_.Subject }` again afterwards: if they come back, a Group Policy pushes them; exclude the NDES server from it. Then start the SCEP application pool again.' AS fix,
    'attempt' AS scope_kind,
    'e8e999de4afd520c3bb4a0b19acffa6e' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 118 AS first_seen,
    412000 AS first_seen_micros,
    t0 + 363 AS last_seen,
    0 AS last_seen_micros,
    8 AS occurrences,
    ['a9f4f5b29a6e711169e16294eecff937', '9998e8fefae57d2e4ab3bee406864098', 'ca95f2a337b0abb9e6bade595a9806a7', '2d72489bae23cfd9a33a5dccd3bfc209', '3893a3e59c26b5377026d14edc364e76'] AS `evidence.event_id`,
    [t0 + 118, t0 + 120, t0 + 221, t0 + 313, t0 + 600] AS `evidence.time`,
    [412000, 0, 95000, 0, 0] AS `evidence.time_micros`,
    ['ndes02', 'ndes02', 'ndes02', 'ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/eventlogs/Application.xml', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/eventlogs/Application.xml', 'ndes02/Windows/System32/LogFiles/HTTPERR/httperr1.log', 'ndes02/health.jsonl'] AS `evidence.source`,
    ['event-log', 'iis', 'event-log', 'httperr', 'health'] AS `evidence.kind`,
    ['<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:02:00 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007) - 503 0 0 31', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:05:13 10.20.30.11 64108 10.20.30.12 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca - 503 1 QueueFull SCEP', '{"time":"2026-11-20T10:10:00Z","fact":"certificate","role":"root_store_intermediate","store":"LocalMachine\\\\Root","thumbprint":"C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14","subject":"CN=Contoso Issuing CA, DC=contoso, DC=com","issuer":"CN=Contoso Root CA, O=Contoso, C=US","not_before":"2023-05-10T12:0'] AS `evidence.excerpt`,
    ['w3wp.exe crash, module ntdll.dll', 'GetCACaps → 503 on ndes02', 'w3wp.exe crash, module ntdll.dll', 'HTTP.sys 503 QueueFull on ndes02', 'intermediate in LocalMachine\\Root: CN=Contoso Issuing CA, DC=contoso, DC=com'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '527d17e748763beb5ff57cc37a52c23e' AS diagnosis_id,
    (toUInt64(t0) + 760) * 1000000 AS version,
    0 AS retracted,
    'iis.app_pool_crashing.crl_unreachable' AS code,
    5 AS catalog_row,
    'critical' AS severity,
    'The SCEP pool crashes: certificate revocation lists cannot be reached' AS title,
    'IIS / HTTP.sys on ndes02 answered 8 request(s) with 503 between 2026-11-20T10:02:00Z and 2026-11-20T10:06:03Z. w3wp.exe crashed 3 time(s) near them: ndes02 at 2026-11-20T10:01:58.412000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:03:41.095000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:05:12.730000Z (module ntdll.dll, exception 0xc0000005). Cause: the CAPI2 log of ndes02 shows revocation / CRL retrieval failures around the crash (CAPI2 Verify Revocation (no URL); CAPI2 Retrieve Object from Network (no URL)). w3wp.exe crashed near 503 answers, and the CAPI2 log shows revocation checks or URL retrievals failing around the same time: the CRL distribution points of the certificates the connector uses are blocked or down.' AS explanation,
    'Open each CRL URL named in the evidence from the NDES server (as the service account if a proxy is involved) and make it reachable: firewall, outbound proxy, or publish a fresh CRL if it expired. Keep the CAPI2 Operational log enabled until the errors stop. Then start the SCEP application pool again.' AS fix,
    'attempt' AS scope_kind,
    'e8e999de4afd520c3bb4a0b19acffa6e' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 118 AS first_seen,
    412000 AS first_seen_micros,
    t0 + 363 AS last_seen,
    0 AS last_seen_micros,
    8 AS occurrences,
    ['2dd80631f712f246e65238acd82e09c0', '377a6400e61e053474b48c15c9295f6b', 'a9f4f5b29a6e711169e16294eecff937', '9998e8fefae57d2e4ab3bee406864098', 'ca95f2a337b0abb9e6bade595a9806a7'] AS `evidence.event_id`,
    [t0 + 117, t0 + 117, t0 + 118, t0 + 120, t0 + 221] AS `evidence.time`,
    [0, 0, 412000, 0, 95000] AS `evidence.time_micros`,
    ['ndes02', 'ndes02', 'ndes02', 'ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/eventlogs/CAPI2-Operational.xml', 'ndes02/eventlogs/CAPI2-Operational.xml', 'ndes02/eventlogs/Application.xml', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/eventlogs/Application.xml'] AS `evidence.source`,
    ['event-log', 'event-log', 'event-log', 'iis', 'event-log'] AS `evidence.kind`,
    ['<Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">\r\n    <Property Name="Id" Type="System.Int32">41</Property>\r\n    <Property Name="Version" Type="System.Nullable`1[[System.Byte, System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]">0</Property>\r\n', '<Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">\r\n    <Property Name="Id" Type="System.Int32">53</Property>\r\n    <Property Name="Version" Type="System.Nullable`1[[System.Byte, System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]">0</Property>\r\n', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:02:00 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007) - 503 0 0 31', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate'] AS `evidence.excerpt`,
    ['CAPI2 Verify Revocation (no URL)', 'CAPI2 Retrieve Object from Network (no URL)', 'w3wp.exe crash, module ntdll.dll', 'GetCACaps → 503 on ndes02', 'w3wp.exe crash, module ntdll.dll'] AS `evidence.note`
FROM sample_clock;

-- The same causes at server scope (17 503s between 10:02:00 and 10:11:22), and the health
-- facts of ndes02 at 10:10
INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '2fad744e47f6fca63aac86d9649c80ac' AS diagnosis_id,
    (toUInt64(t0) + 1000) * 1000000 AS version,
    0 AS retracted,
    'iis.app_pool_crashing.root_intermediate' AS code,
    5 AS catalog_row,
    'critical' AS severity,
    'The SCEP pool crashes: intermediate CA certificates in the Root store' AS title,
    'IIS / HTTP.sys on ndes02 answered 17 request(s) with 503 between 2026-11-20T10:02:00Z and 2026-11-20T10:11:22Z. w3wp.exe crashed 3 time(s) near them: ndes02 at 2026-11-20T10:01:58.412000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:03:41.095000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:05:12.730000Z (module ntdll.dll, exception 0xc0000005). Cause: ndes02 has non-self-signed certificates in its Trusted Root store (CN=Contoso Issuing CA, DC=contoso, DC=com). w3wp.exe crashed near 503 answers, and the server\'s Trusted Root Certification Authorities store holds certificates that are not self-signed (issuer differs from subject). Intermediates in the Root store are a known cause of this crash.' AS explanation,
    'Move the intermediate certificates out of LocalMachine\\Root (into Intermediate Certification Authorities if they are needed) and restart the server. Run `Get-ChildItem cert:\\LocalMachine\\Root | Where-Object { $_.Issuer -ne $_.Subject }` again afterwards: if they come back, a Group Policy pushes them; exclude the NDES server from it. Then start the SCEP application pool again.' AS fix,
    'server' AS scope_kind,
    'ndes02' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 118 AS first_seen,
    412000 AS first_seen_micros,
    t0 + 682 AS last_seen,
    0 AS last_seen_micros,
    17 AS occurrences,
    ['a9f4f5b29a6e711169e16294eecff937', '9998e8fefae57d2e4ab3bee406864098', '88b5e280f37257221a6ce7d87605a1ba', 'ca95f2a337b0abb9e6bade595a9806a7', '3893a3e59c26b5377026d14edc364e76'] AS `evidence.event_id`,
    [t0 + 118, t0 + 120, t0 + 121, t0 + 221, t0 + 600] AS `evidence.time`,
    [412000, 0, 0, 95000, 0] AS `evidence.time_micros`,
    ['ndes02', 'ndes02', 'ndes02', 'ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/eventlogs/Application.xml', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/eventlogs/Application.xml', 'ndes02/health.jsonl'] AS `evidence.source`,
    ['event-log', 'iis', 'iis', 'event-log', 'health'] AS `evidence.kind`,
    ['<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:02:00 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007) - 503 0 0 31', '2026-11-20 10:02:01 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+13;+SM-A536B+Build/TP1A.220624.014) - 503 0 0 31', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '{"time":"2026-11-20T10:10:00Z","fact":"certificate","role":"root_store_intermediate","store":"LocalMachine\\\\Root","thumbprint":"C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14","subject":"CN=Contoso Issuing CA, DC=contoso, DC=com","issuer":"CN=Contoso Root CA, O=Contoso, C=US","not_before":"2023-05-10T12:0'] AS `evidence.excerpt`,
    ['w3wp.exe crash, module ntdll.dll', 'GET GetCACaps → 503 from 10.20.30.11', 'GET GetCACaps → 503 from 10.20.30.11', 'w3wp.exe crash, module ntdll.dll', 'intermediate in LocalMachine\\Root: CN=Contoso Issuing CA, DC=contoso, DC=com'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    'c4427235615a0bbf39c9afc4eeddcac2' AS diagnosis_id,
    (toUInt64(t0) + 1000) * 1000000 AS version,
    0 AS retracted,
    'iis.app_pool_crashing.crl_unreachable' AS code,
    5 AS catalog_row,
    'critical' AS severity,
    'The SCEP pool crashes: certificate revocation lists cannot be reached' AS title,
    'IIS / HTTP.sys on ndes02 answered 17 request(s) with 503 between 2026-11-20T10:02:00Z and 2026-11-20T10:11:22Z. w3wp.exe crashed 3 time(s) near them: ndes02 at 2026-11-20T10:01:58.412000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:03:41.095000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:05:12.730000Z (module ntdll.dll, exception 0xc0000005). Cause: the CAPI2 log of ndes02 shows revocation / CRL retrieval failures around the crash (CAPI2 Verify Revocation (no URL); CAPI2 Retrieve Object from Network (no URL)). w3wp.exe crashed near 503 answers, and the CAPI2 log shows revocation checks or URL retrievals failing around the same time: the CRL distribution points of the certificates the connector uses are blocked or down.' AS explanation,
    'Open each CRL URL named in the evidence from the NDES server (as the service account if a proxy is involved) and make it reachable: firewall, outbound proxy, or publish a fresh CRL if it expired. Keep the CAPI2 Operational log enabled until the errors stop. Then start the SCEP application pool again.' AS fix,
    'server' AS scope_kind,
    'ndes02' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 118 AS first_seen,
    412000 AS first_seen_micros,
    t0 + 682 AS last_seen,
    0 AS last_seen_micros,
    17 AS occurrences,
    ['2dd80631f712f246e65238acd82e09c0', '377a6400e61e053474b48c15c9295f6b', 'a9f4f5b29a6e711169e16294eecff937', '9998e8fefae57d2e4ab3bee406864098', 'ca95f2a337b0abb9e6bade595a9806a7'] AS `evidence.event_id`,
    [t0 + 117, t0 + 117, t0 + 118, t0 + 120, t0 + 221] AS `evidence.time`,
    [0, 0, 412000, 0, 95000] AS `evidence.time_micros`,
    ['ndes02', 'ndes02', 'ndes02', 'ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/eventlogs/CAPI2-Operational.xml', 'ndes02/eventlogs/CAPI2-Operational.xml', 'ndes02/eventlogs/Application.xml', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/eventlogs/Application.xml'] AS `evidence.source`,
    ['event-log', 'event-log', 'event-log', 'iis', 'event-log'] AS `evidence.kind`,
    ['<Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">\r\n    <Property Name="Id" Type="System.Int32">41</Property>\r\n    <Property Name="Version" Type="System.Nullable`1[[System.Byte, System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]">0</Property>\r\n', '<Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">\r\n    <Property Name="Id" Type="System.Int32">53</Property>\r\n    <Property Name="Version" Type="System.Nullable`1[[System.Byte, System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]">0</Property>\r\n', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:02:00 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007) - 503 0 0 31', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate'] AS `evidence.excerpt`,
    ['CAPI2 Verify Revocation (no URL)', 'CAPI2 Retrieve Object from Network (no URL)', 'w3wp.exe crash, module ntdll.dll', 'GET GetCACaps → 503 from 10.20.30.11', 'w3wp.exe crash, module ntdll.dll'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '3c9ea807d3c3ae2f36105bf9147a882a' AS diagnosis_id,
    (toUInt64(t0) + 1000) * 1000000 AS version,
    0 AS retracted,
    'health.root_store_intermediate' AS code,
    0 AS catalog_row,
    'warning' AS severity,
    'A non-self-signed certificate is in the machine\'s Trusted Root store' AS title,
    'On ndes02, LocalMachine\\Root holds CN=Contoso Issuing CA, DC=contoso, DC=com (thumbprint C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14), issued by CN=Contoso Root CA, O=Contoso, C=US: not self-signed. Seen at 2026-11-20T10:10:00Z. Intermediate CA certificates in LocalMachine\\Root are a known cause of the SCEP application pool crashing (row 5a).' AS explanation,
    'Move the certificate to the Intermediate Certification Authorities store and find the Group Policy that puts it in Root, if any; exclude the NDES server from it.' AS fix,
    'server' AS scope_kind,
    'ndes02' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 600 AS first_seen,
    0 AS first_seen_micros,
    t0 + 600 AS last_seen,
    0 AS last_seen_micros,
    1 AS occurrences,
    ['3893a3e59c26b5377026d14edc364e76'] AS `evidence.event_id`,
    [t0 + 600] AS `evidence.time`,
    [0] AS `evidence.time_micros`,
    ['ndes02'] AS `evidence.host`,
    ['ndes02/health.jsonl'] AS `evidence.source`,
    ['health'] AS `evidence.kind`,
    ['{"time":"2026-11-20T10:10:00Z","fact":"certificate","role":"root_store_intermediate","store":"LocalMachine\\\\Root","thumbprint":"C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14","subject":"CN=Contoso Issuing CA, DC=contoso, DC=com","issuer":"CN=Contoso Root CA, O=Contoso, C=US","not_before":"2023-05-10T12:0'] AS `evidence.excerpt`,
    ['On ndes02, LocalMachine\\Root holds CN=Contoso Issuing CA, DC=contoso, DC=com (thumbprint C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14), issued by CN=Contoso Root CA, O=Contoso, C=US: not self-signed.'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    'e40c2aa0744ee3f3cc500890246bd5e0' AS diagnosis_id,
    (toUInt64(t0) + 1000) * 1000000 AS version,
    0 AS retracted,
    'health.app_pool_stopped' AS code,
    0 AS catalog_row,
    'critical' AS severity,
    'The SCEP application pool is stopped' AS title,
    'On ndes02, the application pool SCEP is Stopped. Seen at 2026-11-20T10:10:00Z. While the pool is stopped every SCEP request is answered 503 (row 4).' AS explanation,
    'Start the pool in IIS Manager > Application Pools; if it stops by itself, look for w3wp.exe crashes (row 5).' AS fix,
    'server' AS scope_kind,
    'ndes02' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 600 AS first_seen,
    0 AS first_seen_micros,
    t0 + 600 AS last_seen,
    0 AS last_seen_micros,
    1 AS occurrences,
    ['ad7b0eb48c592828a610cee020229d54'] AS `evidence.event_id`,
    [t0 + 600] AS `evidence.time`,
    [0] AS `evidence.time_micros`,
    ['ndes02'] AS `evidence.host`,
    ['ndes02/health.jsonl'] AS `evidence.source`,
    ['health'] AS `evidence.kind`,
    ['{"time":"2026-11-20T10:10:00Z","fact":"service","kind":"app_pool","name":"SCEP","display_name":"SCEP","state":"Stopped","start_type":"Automatic"}'] AS `evidence.excerpt`,
    ['On ndes02, the application pool SCEP is Stopped.'] AS `evidence.note`
FROM sample_clock;

-- The iPhone attempt at 12:30: reached NDES, request too long, how far the device got
INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '0d5db525d90a8f2037fa5627f407ddf9' AS diagnosis_id,
    (toUInt64(t0) + 9200) * 1000000 AS version,
    0 AS retracted,
    'ndes.reached' AS code,
    1 AS catalog_row,
    'info' AS severity,
    'The device reached NDES' AS title,
    'IIS on ndes02 logged GetCACert → 200, GetCACaps → 200 between 2026-11-20T12:30:41Z and 2026-11-20T12:30:42Z. IIS logged the SCEP requests with HTTP 200, so the network path, the application proxy (if any) and mscep.dll all worked for this step.' AS explanation,
    'Nothing to fix for this step.' AS fix,
    'attempt' AS scope_kind,
    '4ad356b27be5b94634c8b7ce11b54f64' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 9041 AS first_seen,
    0 AS first_seen_micros,
    t0 + 9042 AS last_seen,
    0 AS last_seen_micros,
    2 AS occurrences,
    ['e58e4999ef8ff721142fc6e19787b0d9', 'c5820ce68c3ffc973db759868db2127c'] AS `evidence.event_id`,
    [t0 + 9041, t0 + 9042] AS `evidence.time`,
    [0, 0] AS `evidence.time_micros`,
    ['ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log'] AS `evidence.source`,
    ['iis', 'iis'] AS `evidence.kind`,
    ['2026-11-20 12:30:41 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACert&message=SCEP%20Authority 443 - 10.20.30.11 profiled/1.0+CFNetwork/1568.200.51+Darwin/24.1.0 - 200 0 0 46', '2026-11-20 12:30:42 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=SCEP%20Authority 443 - 10.20.30.11 profiled/1.0+CFNetwork/1568.200.51+Darwin/24.1.0 - 200 0 0 31'] AS `evidence.excerpt`,
    ['GetCACert → 200 on ndes02', 'GetCACaps → 200 on ndes02'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '52439eb7685393d8e779bd5aab51858c' AS diagnosis_id,
    (toUInt64(t0) + 9200) * 1000000 AS version,
    0 AS retracted,
    'iis.request_too_long' AS code,
    7 AS catalog_row,
    'error' AS severity,
    'The SCEP request is longer than IIS or HTTP.sys accept' AS title,
    'ndes02 rejected 1 request(s) as too long between 2026-11-20T12:30:43Z and 2026-11-20T12:30:43Z (longest query or URL: 3525 bytes). The server\'s limits are below 65534: ndes02 has maxUrl 4096, maxQueryString 2048, MaxFieldLength not set (HTTP.sys default 16384), MaxRequestBytes not set (HTTP.sys default 16384). A PKIOperation sent with GET carries the whole signed request in the query string. IIS request filtering (404.14 / 404.15) or HTTP.sys (414 Request-URI Too Long, HTTPERR URL_Length / FieldLength / Request_Length) rejected it because the configured limits are smaller than SCEP needs.' AS explanation,
    'In IIS Manager > Default Web Site > Request Filtering > Edit Feature Settings set Maximum URL length and Maximum query string to 65534 bytes. In the registry key HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters set the DWORD values MaxFieldLength and MaxRequestBytes to 65534 (decimal). Restart the server.' AS fix,
    'attempt' AS scope_kind,
    '4ad356b27be5b94634c8b7ce11b54f64' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 9043 AS first_seen,
    0 AS first_seen_micros,
    t0 + 9043 AS last_seen,
    0 AS last_seen_micros,
    1 AS occurrences,
    ['1764ebd9a7076e5b7bf3f014cf5f982f', 'f7a29ec059b4d11f57e947ce57c2299c'] AS `evidence.event_id`,
    [t0 + 9043, t0 + 9600] AS `evidence.time`,
    [0, 0] AS `evidence.time_micros`,
    ['ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/health.jsonl'] AS `evidence.source`,
    ['iis', 'health'] AS `evidence.kind`,
    ['2026-11-20 12:30:43 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=PKIOperation&message=MIIJwwYJKoZIhvcNAQcCoIIJtDCCCbACAQExCTAHBgUrDgMCGjCCBF4GCSqGSIb3DQEHAaCCBE8EggRLMIIERwYJKoZIhvcNAQcDoIIEODCCBDQCAQAxggFbMIIBVwIBADBBMDwxCzAJBgNVBAYTAlVTMRAwDgYDVQQKEwdDb250b3NvMRswGQYDVQQLExJDb250b3NvIElzc3Vp', '{"time":"2026-11-20T12:40:00Z","fact":"request_limits","max_url":4096,"max_query_string":2048,"max_field_length":0,"max_request_bytes":0}'] AS `evidence.excerpt`,
    ['PKIOperation → 404.15 on ndes02', 'ndes02 has maxUrl 4096, maxQueryString 2048, MaxFieldLength not set (HTTP.sys default 16384), MaxRequestBytes not set (HTTP.sys default 16384)'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    'f99b1d639b8e8a8176ea35333d78edd7' AS diagnosis_id,
    (toUInt64(t0) + 9200) * 1000000 AS version,
    0 AS retracted,
    'device.ios_progress' AS code,
    15 AS catalog_row,
    'info' AS severity,
    'How far the iOS device got' AS title,
    'iphone-anna logged: URL request GetCACert; URL request GetCACaps; Attempting to retrieve issued certificate; Sending CSR via GET; URL request PKIOperation; Error: SCEP server returned HTTP status 404 (HTTP 404); Error: Profile installation failed: The SCEP server returned an invalid response.. Last step: Error: Profile installation failed: The SCEP server returned an invalid response.. It logged 2 error(s) from its SCEP stack. The profiled debug log shows the device\'s side of the enrollment up to the last step listed.' AS explanation,
    'Nothing to fix on the device for the steps that worked; compare with the server\'s side of the attempt.' AS fix,
    'attempt' AS scope_kind,
    '4ad356b27be5b94634c8b7ce11b54f64' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 9041 AS first_seen,
    220114 AS first_seen_micros,
    t0 + 9043 AS last_seen,
    538114 AS last_seen_micros,
    7 AS occurrences,
    ['0eddcb46a22a25935beb53dcb27accb7', '143bb11a3ff8f83a92b72f0885bf9574', '5416fada5c47443dbc07599671f881e1', '75a67ef4c003703cde182faaa9f77b20', '3106257ada84605f55e1700c9b40b0c6'] AS `evidence.event_id`,
    [t0 + 9041, t0 + 9043, t0 + 9043, t0 + 9043, t0 + 9043] AS `evidence.time`,
    [220114, 12114, 16114, 17114, 530114] AS `evidence.time_micros`,
    ['iphone-anna', 'iphone-anna', 'iphone-anna', 'iphone-anna', 'iphone-anna'] AS `evidence.host`,
    ['iphone-anna/profiled.log', 'iphone-anna/profiled.log', 'iphone-anna/profiled.log', 'iphone-anna/profiled.log', 'iphone-anna/profiled.log'] AS `evidence.source`,
    ['ios-console', 'ios-console', 'ios-console', 'ios-console', 'ios-console'] AS `evidence.kind`,
    ['2026-11-20 07:30:41.220114-0500  0x1a2b3c   Debug       0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] Performing synchronous URL request: https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACert&message=SCEP%20Authority', '2026-11-20 07:30:43.012114-0500  0x1a2b3c   Default     0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] Attempting to retrieve issued certificate...', '2026-11-20 07:30:43.016114-0500  0x1a2b3c   Debug       0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] Sending CSR via GET.', '2026-11-20 07:30:43.017114-0500  0x1a2b3c   Debug       0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] Performing synchronous URL request: https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=PKIOperation&message=MIIJwwYJKoZIhvcNAQcCoIIJtDCCCbACAQExCTAHBgU', '2026-11-20 07:30:43.530114-0500  0x1a2b3c   Error       0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] SCEP server returned HTTP status 404'] AS `evidence.excerpt`,
    ['URL request GetCACert', 'Attempting to retrieve issued certificate', 'Sending CSR via GET', 'URL request PKIOperation', 'Error: SCEP server returned HTTP status 404 (HTTP 404)'] AS `evidence.note`
FROM sample_clock;

-- The Android attempt at 11:41: application proxy connector down
INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    'cfcbd742f7f906ca7c67eb7578573d5a' AS diagnosis_id,
    (toUInt64(t0) + 6400) * 1000000 AS version,
    0 AS retracted,
    'app_proxy.connector_down' AS code,
    6 AS catalog_row,
    'critical' AS severity,
    'The application proxy connector is not running (504 GatewayTimeout)' AS title,
    'The device got 504 GatewayTimeout from the application proxy 2 time(s) between 2026-11-20T11:41:34.539000Z and 2026-11-20T11:41:34.554000Z. Health facts confirm it: the connector service WAPCSvc on ndes01 was Stopped (startup type Automatic) at 2026-11-20T11:45:02Z. The application proxy answered 504 GatewayTimeout: the cloud service accepted the request but no connector picked it up to forward it to NDES, which happens when the Microsoft Entra application proxy (private network) connector service is stopped or cannot reach the service.' AS explanation,
    'On the connector servers run services.msc, start the Microsoft Entra application proxy connector service (WAPCSvc) and set its startup type to Automatic. Check in the Entra admin center that the connector group serving this application shows active connectors.' AS fix,
    'attempt' AS scope_kind,
    '049db1838585d5a4e4a7c81f94b13e9e' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 6094 AS first_seen,
    539000 AS first_seen_micros,
    t0 + 6094 AS last_seen,
    554000 AS last_seen_micros,
    2 AS occurrences,
    ['40eb6a33b46974889b2c2e062968b711', '4804ad6b5c5c4294835b31b22342a85a', '7c99b2a2dd04ad8e502fbec4a22b4656'] AS `evidence.event_id`,
    [t0 + 6094, t0 + 6094, t0 + 6302] AS `evidence.time`,
    [539000, 554000, 0] AS `evidence.time_micros`,
    ['android-pixel7', 'android-pixel7', 'ndes01'] AS `evidence.host`,
    ['android-pixel7/omadmlog.log', 'android-pixel7/omadmlog.log', 'ndes01/health.jsonl'] AS `evidence.source`,
    ['android-omadm', 'android-omadm', 'health'] AS `evidence.kind`,
    ['2026-11-20T11:41:34.5390000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  23980    10  Received \'504 Gateway Timeout\' when sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca', '2026-11-20T11:41:34.5540000  ERROR  Event  com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager  23980    10  Failed to enroll certificate: org.jscep.transport.TransportException: 504 Gateway Timeout', '{"time":"2026-11-20T11:45:02Z","fact":"service","kind":"windows_service","name":"WAPCSvc","display_name":"Microsoft Entra private network connector","state":"Stopped","start_type":"Automatic"}'] AS `evidence.excerpt`,
    ['device: 504 GatewayTimeout', 'device: 504 GatewayTimeout', 'the connector service WAPCSvc on ndes01 was Stopped (startup type Automatic) at 2026-11-20T11:45:02Z'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '457811fa5b3a259110dc6dfd6492ca16' AS diagnosis_id,
    (toUInt64(t0) + 6400) * 1000000 AS version,
    0 AS retracted,
    'device.android_progress' AS code,
    14 AS catalog_row,
    'info' AS severity,
    'How far the Android device got' AS title,
    'android-pixel7 logged: There are 1 requests; Trying to enroll certificate request AC_51bad41f-3854-4eb5-a2f2-0f7a94034ee8%2FLogicalName_39907e78_e61b_4730_b9fa_d44a53e4111c; Sending GetCACaps; Received \'504 Gateway Timeout\' for GetCACaps; Error: Failed to enroll certificate: org.jscep.transport.TransportException: 504 Gateway Timeout. Last step: Error: Failed to enroll certificate: org.jscep.transport.TransportException: 504 Gateway Timeout. It logged 2 error(s) from its SCEP stack. The Company Portal\'s OMADM log shows the device\'s side of the enrollment up to the last step listed.' AS explanation,
    'Nothing to fix on the device for the steps that worked; compare with the server\'s side of the attempt.' AS fix,
    'attempt' AS scope_kind,
    '049db1838585d5a4e4a7c81f94b13e9e' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 6063 AS first_seen,
    114000 AS first_seen_micros,
    t0 + 6094 AS last_seen,
    554000 AS last_seen_micros,
    5 AS occurrences,
    ['859684a5b5514a9651a87caeb16fda75', '40eb6a33b46974889b2c2e062968b711', '4804ad6b5c5c4294835b31b22342a85a'] AS `evidence.event_id`,
    [t0 + 6063, t0 + 6094, t0 + 6094] AS `evidence.time`,
    [114000, 539000, 554000] AS `evidence.time_micros`,
    ['android-pixel7', 'android-pixel7', 'android-pixel7'] AS `evidence.host`,
    ['android-pixel7/omadmlog.log', 'android-pixel7/omadmlog.log', 'android-pixel7/omadmlog.log'] AS `evidence.source`,
    ['android-omadm', 'android-omadm', 'android-omadm'] AS `evidence.kind`,
    ['2026-11-20T11:41:03.1140000  VERB  Event  com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager  23980    10  There are 1 requests', '2026-11-20T11:41:34.5390000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  23980    10  Received \'504 Gateway Timeout\' when sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca', '2026-11-20T11:41:34.5540000  ERROR  Event  com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager  23980    10  Failed to enroll certificate: org.jscep.transport.TransportException: 504 Gateway Timeout'] AS `evidence.excerpt`,
    ['There are 1 requests', 'Received \'504 Gateway Timeout\' for GetCACaps', 'Error: Failed to enroll certificate: org.jscep.transport.TransportException: 504 Gateway Timeout'] AS `evidence.note`
FROM sample_clock;

-- The diagnosis of the withdrawn attempt, withdrawn with it
INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '1b6e0c4f2a9d83e57c0f1a2b3c4d5e6f' AS diagnosis_id,
    (toUInt64(t0) + 400) * 1000000 AS version,
    0 AS retracted,
    'iis.app_pool_crashing.root_intermediate' AS code,
    5 AS catalog_row,
    'critical' AS severity,
    'The SCEP pool crashes: intermediate CA certificates in the Root store' AS title,
    'IIS / HTTP.sys on ndes02 answered 8 request(s) with 503 between 2026-11-20T10:02:00Z and 2026-11-20T10:06:03Z. w3wp.exe crashed 3 time(s) near them: ndes02 at 2026-11-20T10:01:58.412000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:03:41.095000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:05:12.730000Z (module ntdll.dll, exception 0xc0000005). Cause: ndes02 has non-self-signed certificates in its Trusted Root store (CN=Contoso Issuing CA, DC=contoso, DC=com). w3wp.exe crashed near 503 answers, and the server\'s Trusted Root Certification Authorities store holds certificates that are not self-signed (issuer differs from subject). Intermediates in the Root store are a known cause of this crash.' AS explanation,
    'Move the intermediate certificates out of LocalMachine\\Root (into Intermediate Certification Authorities if they are needed) and restart the server. Run `Get-ChildItem cert:\\LocalMachine\\Root | Where-Object { $_.Issuer -ne $_.Subject }` again afterwards: if they come back, a Group Policy pushes them; exclude the NDES server from it. Then start the SCEP application pool again.' AS fix,
    'attempt' AS scope_kind,
    '7f3e2a9c41d05b8e6a2f9c1d3e4b5a60' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 118 AS first_seen,
    412000 AS first_seen_micros,
    t0 + 363 AS last_seen,
    0 AS last_seen_micros,
    8 AS occurrences,
    ['a9f4f5b29a6e711169e16294eecff937', '9998e8fefae57d2e4ab3bee406864098', 'ca95f2a337b0abb9e6bade595a9806a7', '2d72489bae23cfd9a33a5dccd3bfc209', '3893a3e59c26b5377026d14edc364e76'] AS `evidence.event_id`,
    [t0 + 118, t0 + 120, t0 + 221, t0 + 313, t0 + 600] AS `evidence.time`,
    [412000, 0, 95000, 0, 0] AS `evidence.time_micros`,
    ['ndes02', 'ndes02', 'ndes02', 'ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/eventlogs/Application.xml', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/eventlogs/Application.xml', 'ndes02/Windows/System32/LogFiles/HTTPERR/httperr1.log', 'ndes02/health.jsonl'] AS `evidence.source`,
    ['event-log', 'iis', 'event-log', 'httperr', 'health'] AS `evidence.kind`,
    ['<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:02:00 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007) - 503 0 0 31', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:05:13 10.20.30.11 64108 10.20.30.12 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca - 503 1 QueueFull SCEP', '{"time":"2026-11-20T10:10:00Z","fact":"certificate","role":"root_store_intermediate","store":"LocalMachine\\\\Root","thumbprint":"C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14","subject":"CN=Contoso Issuing CA, DC=contoso, DC=com","issuer":"CN=Contoso Root CA, O=Contoso, C=US","not_before":"2023-05-10T12:0'] AS `evidence.excerpt`,
    ['w3wp.exe crash, module ntdll.dll', 'GetCACaps → 503 on ndes02', 'w3wp.exe crash, module ntdll.dll', 'HTTP.sys 503 QueueFull on ndes02', 'intermediate in LocalMachine\\Root: CN=Contoso Issuing CA, DC=contoso, DC=com'] AS `evidence.note`
FROM sample_clock;

INSERT INTO diagnoses (
    diagnosis_id, version, retracted, code, catalog_row, severity, title, explanation, fix,
    scope_kind, scope_id, endpoint, first_seen, first_seen_micros, last_seen, last_seen_micros,
    occurrences, evidence.event_id, evidence.time, evidence.time_micros, evidence.host,
    evidence.source, evidence.kind, evidence.excerpt, evidence.note)
SELECT
    '1b6e0c4f2a9d83e57c0f1a2b3c4d5e6f' AS diagnosis_id,
    (toUInt64(t0) + 760) * 1000000 AS version,
    1 AS retracted,
    'iis.app_pool_crashing.root_intermediate' AS code,
    5 AS catalog_row,
    'critical' AS severity,
    'The SCEP pool crashes: intermediate CA certificates in the Root store' AS title,
    'IIS / HTTP.sys on ndes02 answered 8 request(s) with 503 between 2026-11-20T10:02:00Z and 2026-11-20T10:06:03Z. w3wp.exe crashed 3 time(s) near them: ndes02 at 2026-11-20T10:01:58.412000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:03:41.095000Z (module ntdll.dll, exception 0xc0000005); ndes02 at 2026-11-20T10:05:12.730000Z (module ntdll.dll, exception 0xc0000005). Cause: ndes02 has non-self-signed certificates in its Trusted Root store (CN=Contoso Issuing CA, DC=contoso, DC=com). w3wp.exe crashed near 503 answers, and the server\'s Trusted Root Certification Authorities store holds certificates that are not self-signed (issuer differs from subject). Intermediates in the Root store are a known cause of this crash.' AS explanation,
    'Move the intermediate certificates out of LocalMachine\\Root (into Intermediate Certification Authorities if they are needed) and restart the server. Run `Get-ChildItem cert:\\LocalMachine\\Root | Where-Object { $_.Issuer -ne $_.Subject }` again afterwards: if they come back, a Group Policy pushes them; exclude the NDES server from it. Then start the SCEP application pool again.' AS fix,
    'attempt' AS scope_kind,
    '7f3e2a9c41d05b8e6a2f9c1d3e4b5a60' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    t0 + 118 AS first_seen,
    412000 AS first_seen_micros,
    t0 + 363 AS last_seen,
    0 AS last_seen_micros,
    8 AS occurrences,
    ['a9f4f5b29a6e711169e16294eecff937', '9998e8fefae57d2e4ab3bee406864098', 'ca95f2a337b0abb9e6bade595a9806a7', '2d72489bae23cfd9a33a5dccd3bfc209', '3893a3e59c26b5377026d14edc364e76'] AS `evidence.event_id`,
    [t0 + 118, t0 + 120, t0 + 221, t0 + 313, t0 + 600] AS `evidence.time`,
    [412000, 0, 95000, 0, 0] AS `evidence.time_micros`,
    ['ndes02', 'ndes02', 'ndes02', 'ndes02', 'ndes02'] AS `evidence.host`,
    ['ndes02/eventlogs/Application.xml', 'ndes02/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', 'ndes02/eventlogs/Application.xml', 'ndes02/Windows/System32/LogFiles/HTTPERR/httperr1.log', 'ndes02/health.jsonl'] AS `evidence.source`,
    ['event-log', 'iis', 'event-log', 'httperr', 'health'] AS `evidence.kind`,
    ['<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:02:00 10.20.30.12 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007) - 503 0 0 31', '<Event xmlns=\'http://schemas.microsoft.com/win/2004/08/events/event\'><System><Provider Name=\'Application Error\' Guid=\'{a0e9b465-b939-57d7-b27d-95d8e925ff57}\'/><EventID>1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreate', '2026-11-20 10:05:13 10.20.30.11 64108 10.20.30.12 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca - 503 1 QueueFull SCEP', '{"time":"2026-11-20T10:10:00Z","fact":"certificate","role":"root_store_intermediate","store":"LocalMachine\\\\Root","thumbprint":"C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14","subject":"CN=Contoso Issuing CA, DC=contoso, DC=com","issuer":"CN=Contoso Root CA, O=Contoso, C=US","not_before":"2023-05-10T12:0'] AS `evidence.excerpt`,
    ['w3wp.exe crash, module ntdll.dll', 'GetCACaps → 503 on ndes02', 'w3wp.exe crash, module ntdll.dll', 'HTTP.sys 503 QueueFull on ndes02', 'intermediate in LocalMachine\\Root: CN=Contoso Issuing CA, DC=contoso, DC=com'] AS `evidence.note`
FROM sample_clock;

-- ---------------------------------------------------------------------------------------------
-- incidents
-- ---------------------------------------------------------------------------------------------

-- 503 spike on ndes02: written open at 10:04, revised closed with a higher version at 10:16
INSERT INTO incidents (
    incident_id, version, retracted, scope_kind, scope_id, endpoint, http_status, state,
    start_time, end_time, peak_time, peak_rate, baseline_rate, threshold_rate, errors, requests,
    severity, diagnosis_codes, diagnosis_ids, evidence_event_ids, summary, detector)
SELECT
    'c1d5a0e7b9f24c3a8e6d1f0b2a4c6e83' AS incident_id,
    (toUInt64(t0) + 250) * 1000000 AS version,
    0 AS retracted,
    'server' AS scope_kind,
    'ndes02' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    503 AS http_status,
    'open' AS state,
    t0 + 120 AS start_time,
    t0 + 240 AS end_time,
    t0 + 120 AS peak_time,
    2.0 AS peak_rate,
    0.05 AS baseline_rate,
    1.5 AS threshold_rate,
    2 AS errors,
    2 AS requests,
    'critical' AS severity,
    ['iis.app_pool_crashing.root_intermediate'] AS diagnosis_codes,
    ['2fad744e47f6fca63aac86d9649c80ac'] AS diagnosis_ids,
    ['9998e8fefae57d2e4ab3bee406864098', '88b5e280f37257221a6ce7d87605a1ba'] AS evidence_event_ids,
    'ndes02 answers 503 (2 in 2 minutes, baseline 0.05 a minute): the SCEP pool crashes.' AS summary,
    'robust-baseline/1 window=60m min_errors=3' AS detector
FROM sample_clock;

INSERT INTO incidents (
    incident_id, version, retracted, scope_kind, scope_id, endpoint, http_status, state,
    start_time, end_time, peak_time, peak_rate, baseline_rate, threshold_rate, errors, requests,
    severity, diagnosis_codes, diagnosis_ids, evidence_event_ids, summary, detector)
SELECT
    'c1d5a0e7b9f24c3a8e6d1f0b2a4c6e83' AS incident_id,
    (toUInt64(t0) + 960) * 1000000 AS version,
    0 AS retracted,
    'server' AS scope_kind,
    'ndes02' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    503 AS http_status,
    'closed' AS state,
    t0 + 120 AS start_time,
    t0 + 720 AS end_time,
    t0 + 300 AS peak_time,
    5.0 AS peak_rate,
    0.05 AS baseline_rate,
    1.5 AS threshold_rate,
    17 AS errors,
    19 AS requests,
    'critical' AS severity,
    ['iis.app_pool_crashing.root_intermediate', 'iis.app_pool_crashing.crl_unreachable', 'health.app_pool_stopped'] AS diagnosis_codes,
    ['2fad744e47f6fca63aac86d9649c80ac', 'c4427235615a0bbf39c9afc4eeddcac2', 'e40c2aa0744ee3f3cc500890246bd5e0'] AS diagnosis_ids,
    ['9998e8fefae57d2e4ab3bee406864098', '88b5e280f37257221a6ce7d87605a1ba', '2d72489bae23cfd9a33a5dccd3bfc209'] AS evidence_event_ids,
    'ndes02 answered 17 of 19 requests with 503 in 10 minutes (peak 5 a minute, baseline 0.05): the SCEP pool crashed; intermediate CA certificates in its Root store and unreachable CRLs explain it.' AS summary,
    'robust-baseline/1 window=60m min_errors=3' AS detector
FROM sample_clock;

-- The same spike seen on the endpoint (ndes01 kept answering)
INSERT INTO incidents (
    incident_id, version, retracted, scope_kind, scope_id, endpoint, http_status, state,
    start_time, end_time, peak_time, peak_rate, baseline_rate, threshold_rate, errors, requests,
    severity, diagnosis_codes, diagnosis_ids, evidence_event_ids, summary, detector)
SELECT
    '8a27f04c6d1e95b3a0c7e2d4f6b81935' AS incident_id,
    (toUInt64(t0) + 960) * 1000000 AS version,
    0 AS retracted,
    'endpoint' AS scope_kind,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    503 AS http_status,
    'closed' AS state,
    t0 + 120 AS start_time,
    t0 + 720 AS end_time,
    t0 + 300 AS peak_time,
    5.0 AS peak_rate,
    0.1 AS baseline_rate,
    2.5 AS threshold_rate,
    17 AS errors,
    41 AS requests,
    'critical' AS severity,
    ['iis.app_pool_crashing.root_intermediate', 'iis.app_pool_crashing.crl_unreachable', 'health.app_pool_stopped'] AS diagnosis_codes,
    ['2fad744e47f6fca63aac86d9649c80ac', 'c4427235615a0bbf39c9afc4eeddcac2', 'e40c2aa0744ee3f3cc500890246bd5e0'] AS diagnosis_ids,
    ['9998e8fefae57d2e4ab3bee406864098', '88b5e280f37257221a6ce7d87605a1ba', '2d72489bae23cfd9a33a5dccd3bfc209'] AS evidence_event_ids,
    'The endpoint answered 17 of 41 requests with 503 in 10 minutes, all from ndes02.' AS summary,
    'robust-baseline/1 window=60m min_errors=3' AS detector
FROM sample_clock;

-- A 500 spike on ndes01 two days earlier (GetCACert, win32 status 1346): outside the last day
INSERT INTO incidents (
    incident_id, version, retracted, scope_kind, scope_id, endpoint, http_status, state,
    start_time, end_time, peak_time, peak_rate, baseline_rate, threshold_rate, errors, requests,
    severity, diagnosis_codes, diagnosis_ids, evidence_event_ids, summary, detector)
SELECT
    'e93b0d7a51c24f68b2a0c9e1d3f57a24' AS incident_id,
    (toUInt64(t0) + -171840) * 1000000 AS version,
    0 AS retracted,
    'server' AS scope_kind,
    'ndes01' AS scope_id,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    500 AS http_status,
    'closed' AS state,
    t0 - 175680 AS start_time,
    t0 - 175200 AS end_time,
    t0 - 175620 AS peak_time,
    2.0 AS peak_rate,
    0.0 AS baseline_rate,
    1.5 AS threshold_rate,
    3 AS errors,
    3 AS requests,
    'error' AS severity,
    ['iis.impersonation_right_missing'] AS diagnosis_codes,
    ['a3085bf5b07c5c859ff9c9281e225b6c'] AS diagnosis_ids,
    CAST([] AS Array(String)) AS evidence_event_ids,
    'ndes01 answered GetCACert with 500 (win32 status 1346) 3 times in 8 minutes.' AS summary,
    'robust-baseline/1 window=60m min_errors=3' AS detector
FROM sample_clock;

-- ---------------------------------------------------------------------------------------------
-- health_facts: the latest observation per (host, fact_kind, fact_key)
-- ---------------------------------------------------------------------------------------------

-- ndes02 at 10:10: an intermediate CA in LocalMachine\Root
INSERT INTO health_facts (
    host, fact_kind, fact_key, version, observed_time, observed_time_micros, event_id,
    collector, endpoint, issue_codes, cert_role, cert_store, cert_thumbprint, cert_subject,
    cert_issuer, cert_not_before, cert_not_after)
SELECT
    'ndes02' AS host,
    'certificate' AS fact_kind,
    'root_store_intermediate/C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14' AS fact_key,
    (toUInt64(t0) + 600) * 1000000 AS version,
    t0 + 600 AS observed_time,
    0 AS observed_time_micros,
    '3893a3e59c26b5377026d14edc364e76' AS event_id,
    'ndes02' AS collector,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    ['health.root_store_intermediate'] AS issue_codes,
    'root_store_intermediate' AS cert_role,
    'LocalMachine\\Root' AS cert_store,
    'C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14' AS cert_thumbprint,
    'CN=Contoso Issuing CA, DC=contoso, DC=com' AS cert_subject,
    'CN=Contoso Root CA, O=Contoso, C=US' AS cert_issuer,
    toDateTime('2023-05-10 12:00:00', 'UTC') AS cert_not_before,
    toDateTime('2031-05-10 12:00:00', 'UTC') AS cert_not_after
FROM sample_clock;

-- ndes02's SCEP pool: Stopped at 10:10; then a late replay of a 07:00 snapshot in which it
-- was still Started (not in the sample files): its lower version never hides the newer state
INSERT INTO health_facts (
    host, fact_kind, fact_key, version, observed_time, observed_time_micros, event_id,
    collector, endpoint, issue_codes, service_kind, service_name, service_display_name,
    service_state, service_start_type)
SELECT
    'ndes02' AS host,
    'service' AS fact_kind,
    'app_pool/SCEP' AS fact_key,
    (toUInt64(t0) + 600) * 1000000 AS version,
    t0 + 600 AS observed_time,
    0 AS observed_time_micros,
    'ad7b0eb48c592828a610cee020229d54' AS event_id,
    'ndes02' AS collector,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    ['health.app_pool_stopped'] AS issue_codes,
    'app_pool' AS service_kind,
    'SCEP' AS service_name,
    'SCEP' AS service_display_name,
    'Stopped' AS service_state,
    'Automatic' AS service_start_type
FROM sample_clock;

INSERT INTO health_facts (
    host, fact_kind, fact_key, version, observed_time, observed_time_micros, event_id,
    collector, endpoint, issue_codes, service_kind, service_name, service_display_name,
    service_state, service_start_type)
SELECT
    'ndes02' AS host,
    'service' AS fact_kind,
    'app_pool/SCEP' AS fact_key,
    (toUInt64(t0) - 10800) * 1000000 AS version,
    t0 - 10800 AS observed_time,
    0 AS observed_time_micros,
    '5a0c3e81f7d24b96a1e8c0d2f4b6a973' AS event_id,
    'ndes02' AS collector,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    CAST([] AS Array(String)) AS issue_codes,
    'app_pool' AS service_kind,
    'SCEP' AS service_name,
    'SCEP' AS service_display_name,
    'Started' AS service_state,
    'Automatic' AS service_start_type
FROM sample_clock;

-- ndes02 request limits at 12:40, below 65534
INSERT INTO health_facts (
    host, fact_kind, fact_key, version, observed_time, observed_time_micros, event_id,
    collector, endpoint, issue_codes, limits_max_url, limits_max_query_string)
SELECT
    'ndes02' AS host,
    'request_limits' AS fact_kind,
    '' AS fact_key,
    (toUInt64(t0) + 9600) * 1000000 AS version,
    t0 + 9600 AS observed_time,
    0 AS observed_time_micros,
    'f7a29ec059b4d11f57e947ce57c2299c' AS event_id,
    'ndes02' AS collector,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    ['health.request_limits_low'] AS issue_codes,
    4096 AS limits_max_url,
    2048 AS limits_max_query_string
FROM sample_clock;

-- ndes02 at 07:00: CertificateRegistrationSvc anonymous only, as it should be
INSERT INTO health_facts (
    host, fact_kind, fact_key, version, observed_time, observed_time_micros, event_id,
    collector, endpoint, issue_codes, iis_auth_path, iis_auth_anonymous_enabled,
    iis_auth_windows_enabled)
SELECT
    'ndes02' AS host,
    'iis_authentication' AS fact_kind,
    'Default Web Site/CertificateRegistrationSvc' AS fact_key,
    (toUInt64(t0) - 10800) * 1000000 AS version,
    t0 - 10800 AS observed_time,
    0 AS observed_time_micros,
    'e6ea3338ef4bc9dda8550328f873e84d' AS event_id,
    'ndes02' AS collector,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint,
    CAST([] AS Array(String)) AS issue_codes,
    'Default Web Site/CertificateRegistrationSvc' AS iis_auth_path,
    1 AS iis_auth_anonymous_enabled,
    0 AS iis_auth_windows_enabled
FROM sample_clock;

-- ---------------------------------------------------------------------------------------------
-- watermarks: the latest per source (source IDs are examples)
-- ---------------------------------------------------------------------------------------------

-- ndes02's IIS log read up to 12:30:43, then up to 12:59:59
INSERT INTO watermarks (
    source_id, version, collector, host, source_kind, source_path, endpoint_id, read_from,
    read_up_to, position, updated_at)
SELECT
    '3e9d7c0a52f1486bb0c4e2a71d5f9c36' AS source_id,
    (toUInt64(t0) + 9043) * 1000000 AS version,
    'ndes02' AS collector,
    'ndes02' AS host,
    'iis' AS source_kind,
    'C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log' AS source_path,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    t0 - 36000 AS read_from,
    t0 + 9043 AS read_up_to,
    30894 AS position,
    t0 + 9078 AS updated_at
FROM sample_clock;

INSERT INTO watermarks (
    source_id, version, collector, host, source_kind, source_path, endpoint_id, read_from,
    read_up_to, position, updated_at)
SELECT
    '3e9d7c0a52f1486bb0c4e2a71d5f9c36' AS source_id,
    (toUInt64(t0) + 10799) * 1000000 AS version,
    'ndes02' AS collector,
    'ndes02' AS host,
    'iis' AS source_kind,
    'C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log' AS source_path,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    t0 - 36000 AS read_from,
    t0 + 10799 AS read_up_to,
    35410 AS position,
    t0 + 10834 AS updated_at
FROM sample_clock;

-- ndes02's HTTP.sys log and the iPhone's uploaded log
INSERT INTO watermarks (
    source_id, version, collector, host, source_kind, source_path, endpoint_id, read_from,
    read_up_to, position, updated_at)
SELECT
    'b71f3a0c9e2d46858d1a7c3e5f0b2d94' AS source_id,
    (toUInt64(t0) + 10200) * 1000000 AS version,
    'ndes02' AS collector,
    'ndes02' AS host,
    'httperr' AS source_kind,
    'C:\\Windows\\System32\\LogFiles\\HTTPERR\\httperr1.log' AS source_path,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    t0 - 8239 AS read_from,
    t0 + 10200 AS read_up_to,
    2211 AS position,
    t0 + 10235 AS updated_at
FROM sample_clock;

INSERT INTO watermarks (
    source_id, version, collector, host, source_kind, source_path, endpoint_id, read_from,
    read_up_to, position, updated_at)
SELECT
    '64c2e9a1d07b4f3e9a5c8d1b2e0f7a68' AS source_id,
    (toUInt64(t0) + 9043) * 1000000 AS version,
    'upload-01' AS collector,
    'iphone-anna' AS host,
    'ios-console' AS source_kind,
    'uploads/iphone-anna/profiled.log' AS source_path,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS endpoint_id,
    t0 + 9041 AS read_from,
    t0 + 9043 AS read_up_to,
    1530 AS position,
    t0 + 9078 AS updated_at
FROM sample_clock;

-- ---------------------------------------------------------------------------------------------
-- rejects
-- ---------------------------------------------------------------------------------------------

-- A record whose value is not an EndpointEvents message (raw bytes kept)
INSERT INTO rejects (
    topic, kafka_partition, kafka_offset, event_index, version, record_time, record_time_micros,
    rejected_at, reason, detail, record_key, collector, batch_sequence, event_id, payload)
SELECT
    'scepwatch.events.v1' AS topic,
    7 AS kafka_partition,
    52412 AS kafka_offset,
    -1 AS event_index,
    (toUInt64(t0) + 663) * 1000000 AS version,
    t0 + 660 AS record_time,
    481000 AS record_time_micros,
    t0 + 663 AS rejected_at,
    'decode' AS reason,
    'failed to decode Protobuf message: EndpointEvents.events: Event.source: invalid wire type value: 7' AS detail,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS record_key,
    '' AS collector,
    0 AS batch_sequence,
    '' AS event_id,
    unhex('0a3a68747470733a2f2f6e6465732d636f6e746f736f2e6d736170707270726f78792e6e65742f6365727473727622ff07') AS payload
FROM sample_clock;

-- One event of a decoded record with an event time past what DateTime holds
INSERT INTO rejects (
    topic, kafka_partition, kafka_offset, event_index, version, record_time, record_time_micros,
    rejected_at, reason, detail, record_key, collector, batch_sequence, event_id, payload)
SELECT
    'scepwatch.events.v1' AS topic,
    7 AS kafka_partition,
    52413 AS kafka_offset,
    2 AS event_index,
    (toUInt64(t0) + 664) * 1000000 AS version,
    t0 + 661 AS record_time,
    481000 AS record_time_micros,
    t0 + 664 AS rejected_at,
    'time_out_of_range' AS reason,
    'event_time_us 253402300800000000 (10000-01-01T00:00:00Z) is outside 1970-01-01T00:00:00Z..2106-02-07T06:28:15Z' AS detail,
    'https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll' AS record_key,
    'ndes02' AS collector,
    1847 AS batch_sequence,
    '0f3b5d7e9a1c2e4f6a8b0c2d4e6f8091' AS event_id,
    unhex('0a100f3b5d7e9a1c2e4f6a8b0c2d4e6f80912080c0cde3cc8191c203') AS payload
FROM sample_clock;

-- ---------------------------------------------------------------------------------------------
-- schema_migrations (example checksums), version 4 recorded twice by two services starting at once
-- ---------------------------------------------------------------------------------------------

-- The applier's records
INSERT INTO schema_migrations (
    version, name, checksum, applied_at, duration_ms, applied_by)
SELECT
    1 AS version,
    '0001_schema_migrations.sql' AS name,
    '9f2c61d0a8b34e7f5c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c' AS checksum,
    t0 - 2592000 AS applied_at,
    40 AS duration_ms,
    'scepwatch-analyzer 0.1.0 on analyzer-0' AS applied_by
FROM sample_clock;

INSERT INTO schema_migrations (
    version, name, checksum, applied_at, duration_ms, applied_by)
SELECT
    2 AS version,
    '0002_events.sql' AS name,
    '41d8e0c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9' AS checksum,
    t0 - 2591999 AS applied_at,
    47 AS duration_ms,
    'scepwatch-analyzer 0.1.0 on analyzer-0' AS applied_by
FROM sample_clock;

INSERT INTO schema_migrations (
    version, name, checksum, applied_at, duration_ms, applied_by)
SELECT
    3 AS version,
    '0003_results.sql' AS name,
    'c07a3e5b9d1f2e4a6c8b0d2f4e6a8c0b2d4f6e8a0c2b4d6f8e0a2c4b6d8f0e2a' AS checksum,
    t0 - 2591998 AS applied_at,
    54 AS duration_ms,
    'scepwatch-analyzer 0.1.0 on analyzer-0' AS applied_by
FROM sample_clock;

INSERT INTO schema_migrations (
    version, name, checksum, applied_at, duration_ms, applied_by)
SELECT
    4 AS version,
    '0004_per_minute.sql' AS name,
    '7e51b9c3a0d2f4e6b8c0a2d4f6e8b0c2a4d6f8e0b2c4a6d8f0e2b4c6a8d0f2e4' AS checksum,
    t0 - 2591997 AS applied_at,
    61 AS duration_ms,
    'scepwatch-analyzer 0.1.0 on analyzer-0' AS applied_by
FROM sample_clock;

INSERT INTO schema_migrations (
    version, name, checksum, applied_at, duration_ms, applied_by)
SELECT
    4 AS version,
    '0004_per_minute.sql' AS name,
    '7e51b9c3a0d2f4e6b8c0a2d4f6e8b0c2a4d6f8e0b2c4a6d8f0e2b4c6a8d0f2e4' AS checksum,
    t0 - 2591996 AS applied_at,
    68 AS duration_ms,
    'scepwatch-analyzer 0.1.0 on analyzer-1' AS applied_by
FROM sample_clock;
