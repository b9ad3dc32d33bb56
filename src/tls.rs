//! HTTPS certificates. Cameras only work in a secure context, so Visitas always speaks TLS.
//!
//! Without a hospital certificate, the first start creates a small local CA and a server
//! certificate signed by it in `DATA_DIR/tls`: SANs for `localhost`, the host name and every local
//! address, EKU serverAuth, at most 397 days of validity (what Apple devices accept). Later starts
//! reuse them; the server certificate is reissued when it nears expiry or when the machine's names
//! or addresses change, and a background task does the same while running. IT can install the CA
//! on managed tablets once and never see a warning again.

use std::{
    collections::BTreeSet,
    fs,
    io::Write,
    net::IpAddr,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Longest validity of the server certificate.
pub const SERVER_CERT_DAYS: i64 = 397;
/// The server certificate is reissued when fewer days than this remain.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// Validity of the local CA.
pub const CA_DAYS: i64 = 10 * 365;

/// Installs the `ring` crypto provider for rustls. Harmless when one is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificate and key the server presents.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// PEM chain: the server certificate, then the CA when generated.
    pub chain_pem: Vec<u8>,
    /// PEM private key.
    pub key_pem: Vec<u8>,
    /// The generated CA, for administrators to download; `None` with the hospital's certificate.
    pub ca_pem: Option<String>,
    /// True when this call issued a new server certificate.
    pub reissued: bool,
}

/// Files of the generated certificates.
#[derive(Debug, Clone)]
pub struct GeneratedPaths {
    pub dir: PathBuf,
}

impl GeneratedPaths {
    fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// The server certificate chain.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    /// The server certificate's private key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// Reads the hospital's certificate and key.
pub fn load_provided(cert: &Path, key: &Path) -> anyhow::Result<ServerTls> {
    let chain_pem = fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem = fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    Ok(ServerTls {
        chain_pem,
        key_pem,
        ca_pem: None,
        reissued: false,
    })
}

/// The names this machine is reached by: `localhost`, its host name (also as `.local`), and
/// every address of its interfaces.
pub fn local_names() -> Vec<String> {
    let mut names = BTreeSet::from(["localhost".to_string()]);
    let host = gethostname::gethostname().to_string_lossy().to_lowercase();
    let host_is_dns = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if host_is_dns {
        names.insert(host.clone());
        if !host.contains('.') {
            names.insert(format!("{host}.local"));
        }
    }
    names.insert("127.0.0.1".into());
    names.insert("::1".into());
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        for interface in interfaces {
            let ip = interface.ip();
            let link_local_v6 =
                matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            if !link_local_v6 {
                names.insert(ip.to_string());
            }
        }
    }
    names.into_iter().collect()
}

/// Loads the generated CA and server certificate, creating or reissuing what is missing, near
/// expiry at `now`, or lacking one of `names`.
pub fn ensure_generated(
    paths: &GeneratedPaths,
    names: &[String],
    now: OffsetDateTime,
) -> anyhow::Result<ServerTls> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.dir)
        .with_context(|| format!("creating {}", paths.dir.display()))?;

    let (ca_pem, ca_key) = load_or_create_ca(paths, now)?;

    let current = fs::read_to_string(paths.server_cert())
        .ok()
        .zip(fs::read_to_string(paths.server_key()).ok());
    if let Some((chain, key)) = current
        && chain.ends_with(&ca_pem)
        && server_cert_is_fit(&chain, names, now)
    {
        return Ok(ServerTls {
            chain_pem: chain.into_bytes(),
            key_pem: key.into_bytes(),
            ca_pem: Some(ca_pem),
            reissued: false,
        });
    }

    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("loading the local CA")?;
    let key = KeyPair::generate().context("generating the server key")?;
    let mut params = CertificateParams::new(names.to_vec()).context("server certificate names")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Visitas");
    dn.push(DnType::OrganizationName, "Visitas");
    params.distinguished_name = dn;
    params.not_before = now - Duration::hours(1);
    params.not_after = params.not_before + Duration::days(SERVER_CERT_DAYS);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    let cert = params
        .signed_by(&key, &issuer)
        .context("signing the server certificate")?;
    let chain = format!("{}{}", cert.pem(), ca_pem);
    write_file(&paths.server_key(), key.serialize_pem().as_bytes())?;
    write_file(&paths.server_cert(), chain.as_bytes())?;
    tracing::info!(names = names.join(", "), "issued a new server certificate");
    Ok(ServerTls {
        chain_pem: chain.into_bytes(),
        key_pem: key.serialize_pem().into_bytes(),
        ca_pem: Some(ca_pem),
        reissued: true,
    })
}

/// The CA, created on first use. A CA certificate without its key is an error, not a reason to
/// make a new CA: IT may have installed the old one on every tablet.
fn load_or_create_ca(
    paths: &GeneratedPaths,
    now: OffsetDateTime,
) -> anyhow::Result<(String, KeyPair)> {
    match (
        fs::read_to_string(paths.ca_cert()),
        fs::read_to_string(paths.ca_key()),
    ) {
        (Ok(pem), Ok(key)) => {
            let key = KeyPair::from_pem(&key).context("reading the local CA key")?;
            return Ok((pem, key));
        }
        (Ok(_), Err(err)) => {
            return Err(err).with_context(|| {
                format!(
                    "{} exists but its key {} cannot be read; restore the key, or move both away \
                     to create a new CA (and install it again on managed devices)",
                    paths.ca_cert().display(),
                    paths.ca_key().display()
                )
            });
        }
        _ => {}
    }
    let key = KeyPair::generate().context("generating the CA key")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    dn.push(DnType::CommonName, format!("Visitas local CA ({host})"));
    dn.push(DnType::OrganizationName, "Visitas");
    params.distinguished_name = dn;
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(CA_DAYS);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key).context("creating the local CA")?;
    write_file(&paths.ca_key(), key.serialize_pem().as_bytes())?;
    write_file(&paths.ca_cert(), cert.pem().as_bytes())?;
    tracing::info!(dir = %paths.dir.display(), "created a local certificate authority");
    Ok((cert.pem(), key))
}

fn random_serial() -> rcgen::SerialNumber {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes[0] &= 0x7f;
    rcgen::SerialNumber::from_slice(&bytes)
}

/// True when the first certificate of `chain` covers every name and has more than
/// [`RENEW_BEFORE_DAYS`] left.
fn server_cert_is_fit(chain: &str, names: &[String], now: OffsetDateTime) -> bool {
    let Some(der) = first_pem_der(chain) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return false;
    };
    let not_after = cert.validity().not_after.timestamp();
    if not_after - now.unix_timestamp() < RENEW_BEFORE_DAYS * 24 * 60 * 60 {
        return false;
    }
    let covered: BTreeSet<String> = cert_names(&cert).into_iter().collect();
    names.iter().all(|name| covered.contains(name))
}

/// The DNS names and IP addresses of a certificate's subjectAltName, as text.
pub fn cert_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The DER bytes of the first certificate in a PEM text.
pub fn first_pem_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|der| der.to_vec())
}

/// Writes a file owner-only (0600), certificates too: nobody else on the box needs them (the CA
/// is downloaded from the administrators' page), and one rule is easier to check than two.
fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    // A leftover temporary file keeps its old mode: set it, whatever it was.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::SanType;

    #[test]
    fn local_names_include_loopback_and_localhost() {
        let names = local_names();
        for expected in ["localhost", "127.0.0.1", "::1"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
        let params = CertificateParams::new(names).unwrap();
        assert!(
            params
                .subject_alt_names
                .iter()
                .any(|s| matches!(s, SanType::IpAddress(_)))
        );
    }
}
