//! Palisade's own HTTPS: the certificate chain and key read from PEM files, swapped in while serving
//! when the files change (a renewed certificate needs no restart), and a listener that hands
//! finished TLS connections to the web crate. rustls with the ring provider, the one reqwest and
//! sqlx already use, so the binary carries one crypto library.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Handshakes in progress at once; more connections wait in the kernel's backlog, so a flood of
/// slow handshakes cannot take unbounded memory.
const MAX_HANDSHAKES: usize = 256;

/// A client that has not finished its handshake by then is dropped, so idle sockets cannot hold
/// handshake slots for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the certificate and key are, and how often to look at them for a renewed certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: PathBuf,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Time between looks at the files' modification times.
    pub reload_every: Duration,
}

/// Why the certificate files cannot be served; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", file.display())]
    Read { file: PathBuf, source: io::Error },
    #[error("{} holds no usable PEM certificate: {problem}", file.display())]
    Certificate { file: PathBuf, problem: String },
    #[error("{} holds no usable PEM private key: {problem}", file.display())]
    Key { file: PathBuf, problem: String },
    #[error(
        "the private key in {} does not belong to the certificate in {}",
        key_file.display(),
        cert_file.display()
    )]
    Mismatch {
        cert_file: PathBuf,
        key_file: PathBuf,
    },
}

impl TlsError {
    /// The file to fix.
    pub fn file(&self) -> &Path {
        match self {
            Self::Read { file, .. } | Self::Certificate { file, .. } | Self::Key { file, .. } => {
                file
            }
            Self::Mismatch { key_file, .. } => key_file,
        }
    }

    /// The configuration key that names [`TlsError::file`].
    pub fn key(&self, files: &TlsFiles) -> &'static str {
        if self.file() == files.cert_file {
            "tls_cert_file"
        } else {
            "tls_key_file"
        }
    }
}

fn read(file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|source| TlsError::Read {
        file: file.to_owned(),
        source,
    })
}

fn pem_problem(e: pem::Error, what: &str) -> String {
    match e {
        pem::Error::NoItemsFound => format!("no {what} block found"),
        other => other.to_string(),
    }
}

/// Reads and checks the certificate chain and key: both parse, and the key is the certificate's.
pub fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_error = |problem: String| TlsError::Certificate {
        file: files.cert_file.clone(),
        problem,
    };
    let key_error = |problem: String| TlsError::Key {
        file: files.key_file.clone(),
        problem,
    };
    let chain = CertificateDer::pem_slice_iter(&read(&files.cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(pem_problem(e, "CERTIFICATE")))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE block found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key_file)?)
        .map_err(|e| key_error(pem_problem(e, "PRIVATE KEY")))?;
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| key_error(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signer);
    // Checking the pair at load time turns a wrong key into an error naming the file, instead of
    // handshakes that fail for every client.
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert_file: files.cert_file.clone(),
            key_file: files.key_file.clone(),
        }),
        Err(e) => Err(cert_error(e.to_string())),
    }
}

/// The certificate handed to each new handshake: whatever was loaded last.
#[derive(Debug)]
pub struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl CurrentCert {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = key;
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// What identifies one version of a file without reading it. The inode is part of it because
/// tools that replace certificates (certbot's symlinks, Kubernetes' secret volumes) swap in a new
/// file rather than rewriting the old one.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(file: &Path) -> Stamp {
    let meta = std::fs::metadata(file).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok()?, meta.len(), inode))
}

/// Reloads the certificate when its files change.
#[derive(Debug)]
pub struct CertWatcher {
    files: TlsFiles,
    current: Arc<CurrentCert>,
    seen: (Stamp, Stamp),
}

impl CertWatcher {
    fn stamps(&self) -> (Stamp, Stamp) {
        (stamp(&self.files.cert_file), stamp(&self.files.key_file))
    }

    /// Looks at the files every [`TlsFiles::reload_every`], for ever.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.files.reload_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            self.check();
        }
    }

    /// Reloads if either file changed since the last look, and says whether a new certificate is
    /// now served. A file that does not load keeps the previous certificate in service; its
    /// stamp is remembered, so the warning is logged once per change, and the next change (the
    /// other half of a renewal written in two steps, or a fixed file) is tried again.
    pub fn check(&mut self) -> bool {
        let now = self.stamps();
        if now == self.seen {
            return false;
        }
        self.seen = now;
        match load(&self.files) {
            Ok(key) => {
                self.current.set(key);
                tracing::info!(
                    cert_file = %self.files.cert_file.display(),
                    key_file = %self.files.key_file.display(),
                    "Reloaded the TLS certificate."
                );
                true
            }
            Err(e) => {
                tracing::warn!(
                    file = %e.file().display(),
                    error = %e,
                    "Cannot reload the TLS certificate; still serving the previous one."
                );
                false
            }
        }
    }
}

/// The server's TLS settings, serving the certificate in `files` from now on, and the watcher
/// that swaps in a new one when the files change.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<(Arc<ServerConfig>, CertWatcher)> {
    let mut watcher = CertWatcher {
        files: files.clone(),
        current: Arc::new(CurrentCert(RwLock::new(load(files)?))),
        seen: (None, None),
    };
    // Stamped after the first load: a change in between is picked up at the first look.
    watcher.seen = watcher.stamps();
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(watcher.current.clone());
    // axum is built without HTTP/2, so offering h2 would break clients that pick it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), watcher))
}

/// A listener of TLS connections for [`palisade_web::serve`]. Handshakes run in their own tasks,
/// so one slow client does not hold up the others; only finished connections reach the server.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` (so it must be called inside a Tokio runtime).
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
        let accepting = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(Self {
            ready,
            local_addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    /// The server drops its listener when shutdown begins: stop taking connections, and drop the
    /// handshakes in progress with the task that owns them.
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl palisade_web::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // Only a panic ends the accepting task early; the server then takes no connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    mut tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let mut handshakes = JoinSet::new();
    loop {
        while handshakes.try_join_next().is_some() {}
        if handshakes.len() >= MAX_HANDSHAKES {
            handshakes.join_next().await;
            continue;
        }
        // axum's accept for a TcpListener logs and backs off on errors such as too many open
        // files, instead of spinning.
        let (stream, peer) = <TcpListener as palisade_web::Listener>::accept(&mut tcp).await;
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(conn)) => {
                    let _ = ready.send((conn, peer)).await;
                }
                // Scanners and clients that do not trust the certificate end here all the time:
                // not worth a warning each.
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed."),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, names: &[&str]) -> TlsFiles {
        let pair = rcgen::generate_simple_self_signed(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("certificate");
        let files = TlsFiles {
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
            reload_every: Duration::from_secs(1),
        };
        // Written to a new file and renamed, as renewal tools do, so the watcher sees a change
        // even within the file system's timestamp resolution.
        for (file, text) in [
            (&files.cert_file, pair.cert.pem()),
            (&files.key_file, pair.signing_key.serialize_pem()),
        ] {
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, text).expect("write");
            std::fs::rename(&tmp, file).expect("rename");
        }
        files
    }

    fn served(watcher: &CertWatcher) -> Vec<u8> {
        watcher.current.get().cert[0].to_vec()
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write_pair(dir.path(), &["localhost"]);
        assert!(load(&files).is_ok());

        std::fs::write(&files.cert_file, "not a certificate").expect("write");
        let e = load(&files).expect_err("garbage certificate");
        assert_eq!(e.key(&files), "tls_cert_file");
        assert!(e.to_string().contains("cert.pem"), "{e}");
        assert!(e.to_string().contains("no CERTIFICATE block"), "{e}");

        std::fs::write(
            &files.cert_file,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = load(&files).expect_err("bad base64");
        assert_eq!(e.key(&files), "tls_cert_file", "{e}");

        write_pair(dir.path(), &["localhost"]);
        std::fs::write(&files.key_file, "").expect("write");
        let e = load(&files).expect_err("empty key");
        assert_eq!(e.key(&files), "tls_key_file");
        assert!(e.to_string().contains("no PRIVATE KEY block"), "{e}");

        let other = tempfile::tempdir().expect("tempdir");
        let theirs = write_pair(other.path(), &["localhost"]);
        write_pair(dir.path(), &["localhost"]);
        std::fs::copy(&theirs.key_file, &files.key_file).expect("copy");
        let e = load(&files).expect_err("someone else's key");
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        assert_eq!(e.key(&files), "tls_key_file");

        std::fs::remove_file(&files.cert_file).expect("remove");
        let e = load(&files).expect_err("missing");
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(e.to_string().contains("cert.pem"), "{e}");
    }

    #[test]
    fn a_changed_pair_is_swapped_in_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write_pair(dir.path(), &["one.test"]);
        let (_, mut watcher) = server_config(&files).expect("config");
        let first = served(&watcher);
        assert!(!watcher.check(), "nothing changed");

        write_pair(dir.path(), &["two.test"]);
        assert!(watcher.check());
        let second = served(&watcher);
        assert_ne!(first, second);

        std::fs::write(&files.cert_file, "half-written").expect("write");
        assert!(!watcher.check());
        assert_eq!(served(&watcher), second, "the previous certificate stays");
        assert!(!watcher.check(), "a broken file is tried once per change");

        write_pair(dir.path(), &["three.test"]);
        assert!(watcher.check(), "fixed files are picked up");
        assert_ne!(served(&watcher), second);
    }
}
