//! TLS on the gRPC port: a plain-text client is refused and counted; with a client CA
//! configured, only collectors holding a certificate it signed get in. Certificates are made
//! here with rcgen; the configuration is loaded from a TOML file naming the PEM files.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use scepwatch_ingestor::config::Config;
use scepwatch_proto::v1::batch_ack::Status as AckStatus;
use scepwatch_proto::v1::ingest_client::IngestClient;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_ca_pem: String,
    client_cert: String,
    client_key: String,
    stranger_cert: String,
    stranger_key: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let server_ca = ca("scepwatch test server CA");
    let (server_cert, server_key) = leaf(&server_ca, &["localhost", "127.0.0.1"]);
    let client_ca = ca("scepwatch test collectors CA");
    let (client_cert, client_key) = leaf(&client_ca, &["ndes01.contoso.com"]);
    let other_ca = ca("someone else's CA");
    let (stranger_cert, stranger_key) = leaf(&other_ca, &["ndes01.contoso.com"]);
    Pki {
        ca_pem: server_ca.pem(),
        server_cert,
        server_key,
        client_ca_pem: client_ca.pem(),
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    }
}

/// Writes the PEM files and an ingestor.toml naming them (relative paths), and loads it.
fn tls_config(dir: &Path, pki: &Pki, bootstrap: &str, topic: &str, mutual: bool) -> Config {
    std::fs::write(dir.join("ingestor.crt"), &pki.server_cert).unwrap();
    std::fs::write(dir.join("ingestor.key"), &pki.server_key).unwrap();
    std::fs::write(dir.join("collectors-ca.crt"), &pki.client_ca_pem).unwrap();
    let client_ca = if mutual {
        "client_ca = \"collectors-ca.crt\"\n"
    } else {
        ""
    };
    let text = format!(
        "listen = \"127.0.0.1:0\"\n\
         http_listen = \"127.0.0.1:0\"\n\
         [tls]\n\
         cert = \"ingestor.crt\"\n\
         key = \"ingestor.key\"\n\
         {client_ca}\
         [[collectors]]\n\
         name = \"ndes01\"\n\
         token_sha256 = \"{}\"\n\
         [kafka]\n\
         bootstrap_servers = \"{bootstrap}\"\n\
         topic = \"{topic}\"\n\
         partitions = 3\n",
        scepwatch_ingestor::auth::TokenDigest::of(TOKEN_NDES01).to_hex()
    );
    let path = dir.join("ingestor.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).expect("config loads")
}

async fn tls_client(
    ing: &Running,
    pki: &Pki,
    identity: Option<(&str, &str)>,
) -> Result<IngestClient<tonic::transport::Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://{}", ing.grpc))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(IngestClient::new(channel))
}

/// Opens a stream and sends one batch: the ack status, or the error on the way.
async fn try_send(
    client: Result<IngestClient<tonic::transport::Channel>, tonic::transport::Error>,
) -> Result<i32, String> {
    let mut client = client.map_err(|e| format!("connect: {e:?}"))?;
    let mut s = open(&mut client, Some(TOKEN_NDES01), None)
        .await
        .map_err(|s| format!("open: {s:?}"))?;
    s.send(batch("ndes01", 1, iis_events("ndes01", 0, 3, ENDPOINT_A)))
        .await;
    s.ack()
        .await
        .map(|a| a.status)
        .map_err(|s| format!("ack: {s:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_port_refuses_plain_text_clients() {
    let bootstrap = require_kafka!();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let topic = fresh_topic("tls");
    let ing = Running::start(tls_config(dir.path(), &pki, &bootstrap, &topic, false)).await;

    // Plain text to the TLS port: the handshake fails, nothing is read, it is counted.
    let plain = Endpoint::from_shared(format!("http://{}", ing.grpc))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map(IngestClient::new);
    let refused = try_send(plain).await;
    assert!(refused.is_err(), "plain text got through: {refused:?}");
    assert!(
        ing.metric("scepwatch_ingestor_refused_streams_total{reason=\"tls_handshake\"}")
            .await
            >= 1.0
    );
    assert_eq!(records_in(&bootstrap, &topic), 0);

    // The same over TLS works.
    let ok = try_send(tls_client(&ing, &pki, None).await).await;
    assert_eq!(ok, Ok(AckStatus::Accepted as i32));
    assert_eq!(records_in(&bootstrap, &topic), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_only_certificates_of_the_client_ca() {
    let bootstrap = require_kafka!();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let topic = fresh_topic("mtls");
    let ing = Running::start(tls_config(dir.path(), &pki, &bootstrap, &topic, true)).await;

    let no_cert = try_send(tls_client(&ing, &pki, None).await).await;
    assert!(
        no_cert.is_err(),
        "no client certificate got through: {no_cert:?}"
    );
    let stranger =
        try_send(tls_client(&ing, &pki, Some((&pki.stranger_cert, &pki.stranger_key))).await).await;
    assert!(
        stranger.is_err(),
        "a foreign CA's certificate got through: {stranger:?}"
    );
    assert_eq!(records_in(&bootstrap, &topic), 0);
    assert!(
        ing.metric("scepwatch_ingestor_refused_streams_total{reason=\"tls_handshake\"}")
            .await
            >= 2.0
    );

    let ok =
        try_send(tls_client(&ing, &pki, Some((&pki.client_cert, &pki.client_key))).await).await;
    assert_eq!(ok, Ok(AckStatus::Accepted as i32));
    assert_eq!(records_in(&bootstrap, &topic), 1);
}
