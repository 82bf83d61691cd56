//! Sprig's cryptographic functions: keys and certificates (`genPrivateKey`, `genCA`,
//! `genSelfSignedCert`, `genSignedCert` and their `WithKey` forms, `buildCustomCert`),
//! password hashes (`bcrypt`, `htpasswd`), `derivePassword` and `encryptAES`/
//! `decryptAES`.
//!
//! Generated keys and certificates are random as Helm's are, with the shape Sprig
//! gives them: RSA keys as PKCS#1 (`RSA PRIVATE KEY`), EC keys as SEC1 with the curve
//! named, Ed25519 as PKCS#8; certificates with only a common name as subject, a
//! 128-bit serial, `daysValid` days from now, key usages, server and client auth.
//! `derivePassword` is deterministic and equals Sprig's output.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

use super::exec::Fail;
use super::funcs::to_i64;
use super::value::Value;

type R = Result<Value, Fail>;

fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Msg(msg.into()))
}

fn s(a: &[Value], i: usize) -> String {
    match a.get(i) {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Nil) | None => String::new(),
        Some(v) => v.go_string(),
    }
}

fn arity(name: &str, a: &[Value], want: usize) -> Result<(), Fail> {
    if a.len() != want {
        return fail(format!(
            "wrong number of args for {name}: want {want} got {}",
            a.len()
        ));
    }
    Ok(())
}

/// Functions of this module, or `None` when `name` is not one of them.
pub fn call(name: &str, a: &[Value]) -> Option<R> {
    let n = |i: usize| a.get(i).map_or(0, to_i64);
    Some(match name {
        "genPrivateKey" => arity(name, a, 1).map(|_| Value::Str(gen_private_key(&s(a, 0)))),
        "genCA" => arity(name, a, 2).and_then(|_| ca(&s(a, 0), n(1), None)),
        "genCAWithKey" => arity(name, a, 3).and_then(|_| ca(&s(a, 0), n(1), Some(&s(a, 2)))),
        "genSelfSignedCert" => {
            arity(name, a, 4).and_then(|_| self_signed(&s(a, 0), &a[1], &a[2], n(3), None))
        }
        "genSelfSignedCertWithKey" => arity(name, a, 5)
            .and_then(|_| self_signed(&s(a, 0), &a[1], &a[2], n(3), Some(&s(a, 4)))),
        "genSignedCert" => {
            arity(name, a, 5).and_then(|_| signed(&s(a, 0), &a[1], &a[2], n(3), &a[4], None))
        }
        "genSignedCertWithKey" => arity(name, a, 6)
            .and_then(|_| signed(&s(a, 0), &a[1], &a[2], n(3), &a[4], Some(&s(a, 5)))),
        "buildCustomCert" => arity(name, a, 2).and_then(|_| custom_cert(&s(a, 0), &s(a, 1))),
        "bcrypt" => arity(name, a, 1).map(|_| Value::Str(bcrypt(&s(a, 0)))),
        "htpasswd" => arity(name, a, 2).map(|_| Value::Str(htpasswd(&s(a, 0), &s(a, 1)))),
        "derivePassword" => arity(name, a, 5).map(|_| {
            Value::Str(derive_password(
                n(0) as u32,
                &s(a, 1),
                &s(a, 2),
                &s(a, 3),
                &s(a, 4),
            ))
        }),
        "encryptAES" => arity(name, a, 2).and_then(|_| encrypt_aes(&s(a, 0), &s(a, 1))),
        "decryptAES" => arity(name, a, 2).and_then(|_| decrypt_aes(&s(a, 0), &s(a, 1))),
        "randBytes" => arity(name, a, 1).map(|_| {
            let b64 = base64::engine::general_purpose::STANDARD;
            Value::Str(b64.encode(random_bytes(n(0).max(0) as usize)))
        }),
        _ => return None,
    })
}

fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore as _;
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    buf
}

// ---- keys -------------------------------------------------------------------

fn gen_private_key(kind: &str) -> String {
    let key = match kind {
        "" | "rsa" => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096),
        "ecdsa" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        // Go's DSA parameter generation has no maintained Rust counterpart here.
        "dsa" => return "failed to generate private key: DSA keys are not supported".into(),
        other => return format!("Unknown type {other}"),
    };
    match key {
        Ok(k) => key_pem(&k),
        Err(e) => format!("failed to generate private key: {e}"),
    }
}

fn new_rsa_2048() -> Result<KeyPair, Fail> {
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .map_err(|e| Fail::Msg(format!("error generating rsa key: {e}")))
}

fn parse_key(pem_text: &str) -> Result<KeyPair, String> {
    let (label, _) = pem_decode(pem_text).ok_or("no PEM data in input")?;
    if label != "PRIVATE KEY" && !label.ends_with(" PRIVATE KEY") {
        return Err(format!("no private key data in PEM block of type {label}"));
    }
    KeyPair::from_pem(pem_text).map_err(|e| match label.as_str() {
        "PRIVATE KEY" => format!("decoding PEM as PKCS#8: {e}"),
        "RSA PRIVATE KEY" => format!("parsing RSA private key from PEM: {e}"),
        "EC PRIVATE KEY" => format!("parsing EC private key from PEM: {e}"),
        _ => format!("invalid private key type {label}"),
    })
}

/// The key as Sprig's `pemBlockForKey` encodes it.
fn key_pem(key: &KeyPair) -> String {
    let der = key.serialized_der();
    let inner = der::pkcs8_inner(der);
    if key.algorithm() == &rcgen::PKCS_ED25519 {
        pem_encode("PRIVATE KEY", der)
    } else if key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
        let sec1 = inner.unwrap_or(der);
        pem_encode("EC PRIVATE KEY", &der::sec1_with_curve(sec1, der::P256_OID))
    } else {
        pem_encode("RSA PRIVATE KEY", inner.unwrap_or(der))
    }
}

// ---- certificates -------------------------------------------------------------

fn base_params(cn: &str, ips: &Value, dns: &Value, days: i64) -> Result<CertificateParams, Fail> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let mut serial = random_bytes(16);
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now;
    p.not_after = now + time::Duration::days(days);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.is_ca = IsCa::ExplicitNoCa;
    for ip in list(ips) {
        let Value::Str(text) = ip else {
            return fail(format!(
                "error parsing ip: {} is not a string",
                ip.go_string()
            ));
        };
        let addr: IpAddr = text
            .parse()
            .map_err(|_| Fail::Msg(format!("error parsing ip: {text}")))?;
        p.subject_alt_names.push(SanType::IpAddress(addr));
    }
    for name in list(dns) {
        let Value::Str(text) = name else {
            return fail(format!(
                "error processing alternate dns name: {} is not a string",
                name.go_string()
            ));
        };
        let ia5 = text
            .as_str()
            .try_into()
            .map_err(|e| Fail::Msg(format!("error processing alternate dns name: {e}")))?;
        p.subject_alt_names.push(SanType::DnsName(ia5));
    }
    Ok(p)
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.to_vec(),
        _ => Vec::new(),
    }
}

fn cert_value(cert: &str, key: &str) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Cert".to_string(), Value::str(cert));
    m.insert("Key".to_string(), Value::str(key));
    Value::map(m)
}

fn key_or_new(pem_text: Option<&str>) -> Result<KeyPair, Fail> {
    match pem_text {
        Some(p) => parse_key(p).map_err(|e| Fail::Msg(format!("parsing private key: {e}"))),
        None => new_rsa_2048(),
    }
}

fn creation_error(e: rcgen::Error) -> Fail {
    Fail::Msg(format!("error creating certificate: {e}"))
}

fn ca(cn: &str, days: i64, key: Option<&str>) -> R {
    let key = key_or_new(key)?;
    let mut p = base_params(cn, &Value::Nil, &Value::Nil, days)?;
    p.key_usages.push(KeyUsagePurpose::KeyCertSign);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).map_err(creation_error)?;
    Ok(cert_value(
        &pem_encode("CERTIFICATE", cert.der()),
        &key_pem(&key),
    ))
}

fn self_signed(cn: &str, ips: &Value, dns: &Value, days: i64, key: Option<&str>) -> R {
    let key = key_or_new(key)?;
    let p = base_params(cn, ips, dns, days)?;
    let cert = p.self_signed(&key).map_err(creation_error)?;
    Ok(cert_value(
        &pem_encode("CERTIFICATE", cert.der()),
        &key_pem(&key),
    ))
}

fn signed(cn: &str, ips: &Value, dns: &Value, days: i64, ca: &Value, key: Option<&str>) -> R {
    let ca_cert = ca.get("Cert").as_str().unwrap_or_default().to_string();
    let ca_key = ca.get("Key").as_str().unwrap_or_default().to_string();
    if pem_decode(&ca_cert).is_none() {
        return fail("unable to decode certificate");
    }
    let signer =
        parse_key(&ca_key).map_err(|e| Fail::Msg(format!("error parsing private key: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, signer).map_err(|e| {
        Fail::Msg(format!(
            "error parsing certificate: decodedSignerCert.Bytes: {e}"
        ))
    })?;
    let key = key_or_new(key)?;
    let mut p = base_params(cn, ips, dns, days)?;
    p.use_authority_key_identifier_extension = true;
    let cert = p.signed_by(&key, &issuer).map_err(creation_error)?;
    Ok(cert_value(
        &pem_encode("CERTIFICATE", cert.der()),
        &key_pem(&key),
    ))
}

fn custom_cert(b64cert: &str, b64key: &str) -> R {
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert = b64
        .decode(b64cert)
        .map_err(|_| Fail::Msg("unable to decode base64 certificate".into()))?;
    let key = b64
        .decode(b64key)
        .map_err(|_| Fail::Msg("unable to decode base64 private key".into()))?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    let (_, der) =
        pem_decode(&cert).ok_or_else(|| Fail::Msg("unable to decode certificate".into()))?;
    x509_parser::parse_x509_certificate(&der)
        .map_err(|e| Fail::Msg(format!("error parsing certificate: decodedCert.Bytes: {e}")))?;
    parse_key(&key).map_err(|e| Fail::Msg(format!("error parsing private key: {e}")))?;
    Ok(cert_value(&cert, &key))
}

/// Go's `pem.EncodeToMemory`: 64 base64 characters a line.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first PEM block: its label and bytes.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body = &rest[label_end + 5..];
    let end = body.find(&format!("-----END {label}-----"))?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((label, der))
}

// ---- passwords and AES ----------------------------------------------------------

fn bcrypt(input: &str) -> String {
    if input.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .into();
    }
    match bcrypt::hash_with_result(input, 10) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

fn htpasswd(user: &str, password: &str) -> String {
    if user.contains(':') {
        return format!("invalid username: {user}");
    }
    format!("{user}:{}", bcrypt(password))
}

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_chars(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// The Master Password algorithm as Sprig implements it: scrypt of the password
/// salted with the user, HMAC-SHA256 of the site and counter, characters from a
/// template chosen by the first byte.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    use hmac::Mac as _;
    let Some(templates) = password_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MASTER_PASSWORD_SEED.to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let derived = scrypt::Params::new(15, 8, 2, 64)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            scrypt::scrypt(password.as_bytes(), &salt, &p, &mut key).map_err(|e| e.to_string())
        });
    if let Err(e) = derived {
        return format!("failed to derive password: {e}");
    }
    let mut msg = MASTER_PASSWORD_SEED.to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "failed to derive password: bad key".into();
    };
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let template = templates[seed[0] as usize % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(i, c)| {
            let chars = template_chars(c);
            chars[seed[i + 1] as usize % chars.len()] as char
        })
        .collect()
}

fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    key
}

fn encrypt_aes(password: &str, plaintext: &str) -> R {
    use aes::cipher::{BlockEncryptMut as _, KeyIvInit as _, block_padding::Pkcs7};
    if plaintext.is_empty() {
        return Ok(Value::str(""));
    }
    let iv = random_bytes(16);
    let enc = cbc::Encryptor::<aes::Aes256>::new(&aes_key(password).into(), iv.as_slice().into());
    let body = enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let mut out = iv;
    out.extend_from_slice(&body);
    Ok(Value::Str(
        base64::engine::general_purpose::STANDARD.encode(out),
    ))
}

fn decrypt_aes(password: &str, crypt64: &str) -> R {
    use aes::cipher::{BlockDecryptMut as _, KeyIvInit as _, block_padding::NoPadding};
    if crypt64.is_empty() {
        return Ok(Value::str(""));
    }
    let crypt = base64::engine::general_purpose::STANDARD
        .decode(crypt64)
        .map_err(|e| Fail::Msg(go_base64_error(&e)))?;
    if crypt.len() < 16 || (crypt.len() - 16) % 16 != 0 {
        return fail("crypto/cipher: input not full blocks");
    }
    let (iv, body) = crypt.split_at(16);
    let dec = cbc::Decryptor::<aes::Aes256>::new(&aes_key(password).into(), iv.into());
    let plain = dec
        .decrypt_padded_vec_mut::<NoPadding>(body)
        .map_err(|e| Fail::Msg(e.to_string()))?;
    // Sprig trusts the last byte as the padding length, as here.
    let pad = plain.last().copied().unwrap_or(0) as usize;
    let keep = plain.len().checked_sub(pad).ok_or_else(|| {
        Fail::Msg(format!(
            "runtime error: slice bounds out of range [:{}]",
            plain.len() as i64 - pad as i64
        ))
    })?;
    Ok(Value::Str(
        String::from_utf8_lossy(&plain[..keep]).into_owned(),
    ))
}

fn go_base64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        _ => "illegal base64 data at input byte 0".into(),
    }
}

/// Just enough DER to move keys between PKCS#8 and the forms Sprig writes.
mod der {
    /// prime256v1, 1.2.840.10045.3.1.7.
    pub const P256_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

    /// One TLV at the start of `b`: (tag, content, rest).
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let first = *b.get(1)? as usize;
        let (len, hdr) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let content = b.get(hdr..hdr + len)?;
        Some((tag, content, &b[hdr + len..]))
    }

    fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .iter()
                .copied()
                .skip_while(|&b| b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    /// The private key inside a PKCS#8 `PrivateKeyInfo`, if `der` is one.
    pub fn pkcs8_inner(der: &[u8]) -> Option<&[u8]> {
        let (0x30, seq, _) = tlv(der)? else {
            return None;
        };
        let (0x02, _version, rest) = tlv(seq)? else {
            return None;
        };
        let (0x30, _alg, rest) = tlv(rest)? else {
            return None;
        };
        let (0x04, key, _) = tlv(rest)? else {
            return None;
        };
        Some(key)
    }

    /// A SEC1 `ECPrivateKey` with `[0] namedCurve` present, as Go writes it.
    pub fn sec1_with_curve(sec1: &[u8], curve: &[u8]) -> Vec<u8> {
        let Some((0x30, seq, _)) = tlv(sec1) else {
            return sec1.to_vec();
        };
        let mut fields = Vec::new();
        let mut rest = seq;
        while let Some((tag, content, r)) = tlv(rest) {
            fields.push((tag, content));
            rest = r;
        }
        let mut body = Vec::new();
        for (tag, content) in &fields {
            if *tag == 0xa1 && !fields.iter().any(|(t, _)| *t == 0xa0) {
                body.extend(encode(0xa0, &encode(0x06, curve)));
            }
            body.extend(encode(*tag, content));
        }
        encode(0x30, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by helm 3.17.1 (`derivePassword` is deterministic).
    #[test]
    fn derive_password_as_sprig() {
        assert_eq!(
            derive_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
        assert_eq!(
            derive_password(1, "maximum", "pw", "u", "s"),
            "o2-3WFZN4Khgl8(&IuEk"
        );
        assert_eq!(derive_password(3, "pin", "pw", "u", "s"), "7979");
        assert_eq!(
            derive_password(1, "nope", "pw", "u", "s"),
            "cannot find password template nope"
        );
    }

    #[test]
    fn aes_round_trip_and_helm_ciphertext() {
        let c = encrypt_aes("secretkey", "plaintext").unwrap();
        assert_eq!(c.go_string().len(), 44);
        // A ciphertext helm 3.17.1 produced.
        assert_eq!(
            decrypt_aes("secretkey", "Gn7hw81R8X8iw6difTQdED69ewlAWFdy3FLjBw4z614=")
                .unwrap()
                .go_string(),
            "hello helm"
        );
        assert_eq!(
            decrypt_aes("secretkey", &c.go_string())
                .unwrap()
                .go_string(),
            "plaintext"
        );
    }

    #[test]
    fn htpasswd_shape() {
        let h = htpasswd("user", "pass");
        assert!(h.starts_with("user:$2a$10$"), "{h}");
        let hash = h.strip_prefix("user:").unwrap();
        assert!(bcrypt::verify("pass", hash).unwrap());
        assert_eq!(htpasswd("us:er", "pass"), "invalid username: us:er");
    }

    fn parse(pem_text: &str) -> x509_parser::certificate::X509Certificate<'static> {
        let (label, der) = pem_decode(pem_text).unwrap();
        assert_eq!(label, "CERTIFICATE");
        let der: &'static [u8] = Box::leak(der.into_boxed_slice());
        x509_parser::parse_x509_certificate(der).unwrap().1
    }

    fn cn(name: &x509_parser::x509::X509Name<'_>) -> String {
        name.iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    fn days(c: &x509_parser::certificate::X509Certificate<'_>) -> i64 {
        let v = c.validity();
        (v.not_after.timestamp() - v.not_before.timestamp()) / 86400
    }

    fn sans(c: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
        use x509_parser::extensions::GeneralName;
        c.subject_alternative_name()
            .unwrap()
            .map(|s| {
                s.value
                    .general_names
                    .iter()
                    .map(|g| match g {
                        GeneralName::DNSName(d) => d.to_string(),
                        GeneralName::IPAddress(ip) => format!("{ip:?}"),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn certificates_have_sprigs_shape() {
        let ca_v = ca("my-ca", 365, None).unwrap();
        let ca_cert = parse(ca_v.get("Cert").as_str().unwrap());
        assert_eq!(cn(ca_cert.subject()), "my-ca");
        assert_eq!(cn(ca_cert.issuer()), "my-ca");
        assert!(ca_cert.is_ca());
        assert_eq!(days(&ca_cert), 365);
        assert!(
            ca_v.get("Key")
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );

        let ips = Value::list(vec![Value::str("10.0.0.1")]);
        let dns = Value::list(vec![Value::str("svc"), Value::str("svc.ns")]);
        let leaf_v = signed("svc.local", &ips, &dns, 30, &ca_v, None).unwrap();
        let leaf = parse(leaf_v.get("Cert").as_str().unwrap());
        assert_eq!(cn(leaf.subject()), "svc.local");
        assert_eq!(cn(leaf.issuer()), "my-ca");
        assert!(!leaf.is_ca());
        assert_eq!(days(&leaf), 30);
        assert_eq!(sans(&leaf), ["[10, 0, 0, 1]", "svc", "svc.ns"]);
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);

        let ec = gen_private_key("ecdsa");
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{ec}");
        let own = self_signed("self", &Value::Nil, &Value::Nil, 7, Some(&ec)).unwrap();
        let own_cert = parse(own.get("Cert").as_str().unwrap());
        assert_eq!(cn(own_cert.subject()), "self");
        assert_eq!(own.get("Key").as_str().unwrap(), ec);
        assert!(gen_private_key("ed25519").starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(gen_private_key("foo"), "Unknown type foo");

        let b64 = base64::engine::general_purpose::STANDARD;
        let custom = custom_cert(
            &b64.encode(own.get("Cert").as_str().unwrap()),
            &b64.encode(&ec),
        )
        .unwrap();
        assert_eq!(custom.get("Key").as_str().unwrap(), ec);
        assert!(custom_cert("x", "y").is_err());
    }
}
