//! A throw-away certificate authority and server certificates for loopback TLS.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate authority generated for one test fixture (ECDSA P-256).
pub struct TestCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// Generates a new CA ("acr-sync testkit CA").
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("generate the CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "acr-sync testkit CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign the CA");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM: what a client must trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a server certificate for the given names (IP addresses become IP SANs) and returns
    /// `(certificate PEM, private key PEM)`.
    pub fn server_cert(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("generate a server key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params =
            CertificateParams::new(names.clone()).expect("server certificate parameters");
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_else(|| "localhost".into()),
        );
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the server certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// A server certificate for `127.0.0.1` and `localhost`: `(certificate PEM, key PEM)`.
    pub fn loopback_cert(&self) -> (String, String) {
        self.server_cert(&["127.0.0.1", "localhost", "::1"])
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}
