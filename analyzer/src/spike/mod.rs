//! Detection of HTTP 500 and 503 spikes per NDES server and per SCEP endpoint.
