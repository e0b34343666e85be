//! HTTPS served by the binary itself, black box over real TLS on loopback: a test CA issues the
//! server's certificate; a client trusting the CA is served with HSTS and Secure cookies, one that
//! does not is refused by its own verification; a renewed certificate is picked up without a
//! restart and a broken one is refused with a warning naming the file; the remote commands reach
//! the server with `--ca-file` (or the `ca_file` setting) and say what is wrong without it; bad
//! TLS settings stop the start naming the key and the file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rcgen::{KeyUsagePurpose, SanType};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

fn palisade() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.env_remove("PALISADE_DATABASE_URL")
        .env_remove("PALISADE_LISTEN")
        .env_remove("PALISADE_CA_FILE")
        .env_remove("PALISADE_TLS_CERT_FILE")
        .env_remove("PALISADE_TLS_KEY_FILE")
        .env("PALISADE_LOG", "info")
        .kill_on_drop(true);
    c
}

/// A test CA in a temporary folder, issuing server certificates into `cert.pem` and `key.pem`.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, "Palisade test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let pki = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            ca,
        };
        std::fs::write(pki.ca_file(), pki.ca.pem()).expect("write CA");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca_file(&self) -> PathBuf {
        self.path("ca.pem")
    }

    fn cert_file(&self) -> PathBuf {
        self.path("cert.pem")
    }

    fn key_file(&self) -> PathBuf {
        self.path("key.pem")
    }

    /// Issues a certificate for 127.0.0.1 and `name` and installs it as renewal tools do (write
    /// aside, rename over); returns its DER.
    fn install(&self, name: &str) -> Vec<u8> {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), name.to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        assert!(matches!(params.subject_alt_names[0], SanType::IpAddress(_)));
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        for (file, text) in [
            (self.cert_file(), cert.pem()),
            (self.key_file(), key.serialize_pem()),
        ] {
            let tmp = file.with_extension("new");
            std::fs::write(&tmp, text).expect("write");
            std::fs::rename(&tmp, &file).expect("rename");
        }
        cert.der().to_vec()
    }

    /// A config file that serves HTTPS with the installed pair, looking for renewals every second.
    fn config(&self) -> PathBuf {
        let file = self.path("palisade.toml");
        std::fs::write(
            &file,
            format!(
                "tls_cert_file = {:?}\ntls_key_file = {:?}\ntls_reload_seconds = 1\n",
                self.cert_file(),
                self.key_file()
            ),
        )
        .expect("write config");
        file
    }

    /// A client that trusts the test CA. A new client is a new TLS session: an old one's session
    /// resumption would not show a renewed certificate.
    fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca.pem().as_bytes()).expect("CA");
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_info(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }
}

/// A running server: its https:// address, what it printed before that, and its log lines.
struct Server {
    child: Child,
    base: String,
    banner: String,
    log: mpsc::UnboundedReceiver<String>,
}

impl Server {
    /// Starts `palisade ARGS` and waits for its readiness line.
    async fn start(config: &Path, args: &[&str]) -> Self {
        let mut child = palisade()
            .arg("--config")
            .arg(config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start palisade");
        // The log is drained all along, so a full pipe never stalls the server.
        let (tx, log) = mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let _ = tx.send(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut banner = String::new();
        let base = loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("palisade exited before serving: {banner}"));
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.trim().to_owned();
            }
            banner.push_str(&line);
            banner.push('\n');
        };
        assert!(base.starts_with("https://127.0.0.1:"), "{base}");
        Self {
            child,
            base,
            banner,
            log,
        }
    }

    /// Waits for a log line containing every one of `parts`.
    async fn logged(&mut self, parts: &[&str]) -> String {
        let wait = async {
            while let Some(line) = self.log.recv().await {
                if parts.iter().all(|p| line.contains(p)) {
                    return line;
                }
            }
            panic!("the log ended without a line containing {parts:?}");
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("no log line containing {parts:?} within 30 s"))
    }

    async fn stop(mut self) {
        let pid = self.child.id().expect("pid").to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(killed.success());
        let status = self.child.wait().await.expect("wait");
        assert!(status.success(), "graceful shutdown exits 0: {status}");
    }
}

/// The DER of the certificate the server presented for `resp`.
fn presented(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

/// The error and all its causes, one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

#[tokio::test]
async fn serves_https_with_hsts_and_secure_cookies_and_picks_up_a_renewed_certificate() {
    let pki = Pki::new();
    let first = pki.install("localhost");
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let mut server = Server::start(
        &pki.config(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
    )
    .await;
    let http = pki.client();
    let healthz = format!("{}/healthz", server.base);

    let resp = http.get(&healthz).send().await.expect("healthz over TLS");
    assert_eq!(resp.status(), 200);
    assert_eq!(presented(&resp), first);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let login = http
        .get(format!("{}/login", server.base))
        .send()
        .await
        .expect("login page");
    assert_eq!(login.status(), 200);
    let cookies: Vec<&str> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert!(!cookies.is_empty());
    assert!(
        cookies.iter().all(|c| c.contains("; Secure")),
        "{cookies:?}"
    );

    // A client with only the public roots refuses the test CA's certificate.
    let untrusting = reqwest::Client::new();
    let refused = untrusting
        .get(&healthz)
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    let why = chain(&refused);
    assert!(why.contains("certificate"), "{why}");
    assert!(why.contains("UnknownIssuer"), "{why}");

    // A renewal: a new key and certificate for another name, written over the old files.
    let second = pki.install("palisade.test");
    assert_ne!(first, second);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = pki.client().get(&healthz).send().await.expect("healthz");
        if presented(&resp) == second {
            break;
        }
        assert_eq!(presented(&resp), first, "one of the two certificates");
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.logged(&["Reloaded the TLS certificate"]).await;

    // A broken renewal keeps the last good certificate, with a warning naming the file.
    std::fs::write(pki.cert_file(), "not a certificate").expect("write");
    let cert_file = pki.cert_file().display().to_string();
    let warning = server
        .logged(&["WARN", "Cannot reload the TLS certificate", "file="])
        .await;
    assert!(warning.contains(&cert_file), "{warning}");
    let resp = pki.client().get(&healthz).send().await.expect("healthz");
    assert_eq!(presented(&resp), second, "the previous certificate stays");

    server.stop().await;
}

#[tokio::test]
async fn remote_commands_trust_the_ca_file_and_explain_a_certificate_they_refuse() {
    let pki = Pki::new();
    pki.install("localhost");
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let server = Server::start(
        &pki.config(),
        &["demo", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
    )
    .await;
    let token = server
        .banner
        .lines()
        .find_map(|l| l.split("(shown once): ").nth(1))
        .expect("token printed")
        .trim()
        .to_owned();
    let base = server.base.clone();
    let envs: serde_json::Value = pki
        .client()
        .get(format!("{base}/api/v1/environments?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("environments")
        .json()
        .await
        .expect("json");
    let env = envs["items"][0]["id"].as_str().expect("env id").to_owned();
    let site = tempfile::tempdir().expect("site dir");
    std::fs::write(
        site.path().join("composer.lock"),
        r#"{"packages": [{"name": "twig/twig", "version": "v3.4.0"}]}"#,
    )
    .expect("write lock");
    // Run from an empty folder, so no palisade.toml but the one named is read.
    let cwd = tempfile::tempdir().expect("cwd");
    let remote = |args: &[&str]| {
        let mut c = palisade();
        c.current_dir(cwd.path())
            .args(args)
            .args(["--server", &base])
            .env("PALISADE_TOKEN", &token);
        c
    };
    let ca_file = pki.ca_file();

    let push = remote(&["inventory", "push", "--environment", &env])
        .arg("--ca-file")
        .arg(&ca_file)
        .arg(site.path())
        .output()
        .await
        .expect("push");
    let out = String::from_utf8_lossy(&push.stdout);
    assert!(
        push.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(out.contains("1 packages from 1 files"), "{out}");

    let affected = remote(&["affected", "--format", "csv", "CVE-2022-39261"])
        .env("PALISADE_CA_FILE", &ca_file)
        .output()
        .await
        .expect("affected");
    let csv = String::from_utf8_lossy(&affected.stdout);
    assert!(
        affected.status.success(),
        "the ca_file setting is trusted too: {csv}{}",
        String::from_utf8_lossy(&affected.stderr)
    );
    assert!(
        csv.lines().any(|l| l.contains("twig/twig,v3.4.0,")),
        "{csv}"
    );

    let refused = remote(&["affected", "CVE-2022-39261"])
        .output()
        .await
        .expect("affected without the CA");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("certificate is not trusted") && err.contains("--ca-file"),
        "{err}"
    );
    assert!(err.contains("UnknownIssuer"), "{err}");

    server.stop().await;
}

#[tokio::test]
async fn bad_tls_settings_stop_the_start_naming_the_key_and_the_file() {
    let pki = Pki::new();
    pki.install("localhost");
    let data = tempfile::tempdir().expect("data dir");
    let start = |toml: String| {
        let config = pki.path("bad.toml");
        std::fs::write(&config, toml).expect("write");
        let mut c = palisade();
        c.arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path());
        c
    };
    let failure = |out: std::process::Output| {
        assert!(!out.status.success(), "the start is refused");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    let err = failure(
        start(format!("tls_cert_file = {:?}\n", pki.cert_file()))
            .output()
            .await
            .expect("run"),
    );
    assert!(err.contains("tls_key_file must be set"), "{err}");

    let err = failure(
        palisade()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("PALISADE_TLS_KEY_FILE", pki.key_file())
            .output()
            .await
            .expect("run"),
    );
    assert!(err.contains("tls_cert_file must be set"), "{err}");

    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").expect("write");
    let err = failure(
        start(format!(
            "tls_cert_file = {garbage:?}\ntls_key_file = {:?}\n",
            pki.key_file()
        ))
        .output()
        .await
        .expect("run"),
    );
    assert!(
        err.contains("tls_cert_file") && err.contains("garbage.pem"),
        "{err}"
    );

    let err = failure(
        start(format!(
            "tls_cert_file = {:?}\ntls_key_file = {garbage:?}\n",
            pki.cert_file()
        ))
        .output()
        .await
        .expect("run"),
    );
    assert!(
        err.contains("tls_key_file") && err.contains("garbage.pem"),
        "{err}"
    );
}
