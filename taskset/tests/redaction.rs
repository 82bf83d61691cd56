//! Remote text that reaches a message is redacted and capped: an error page that quotes
//! the request (a proxy or a misconfigured registry echoing its headers) must not put a
//! credential on stderr, nor a megabyte of HTML.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use acr_sync_testkit::{Registry, RegistryOptions};

fn taskset(dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = common::command(dir);
    cmd.arg("-v");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("acr-sync-taskset runs")
}

/// A loopback "registry" that asks for Basic credentials, then answers every request
/// that carries them with 400 and a page quoting the request's headers, padded to 1 MB
/// (a HEAD of a manifest gets 200 and a digest, so that the copy goes on to a GET).
/// Serves until the test ends (each connection has a read time-out).
fn echoing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => head.push(line),
                        }
                    }
                    let authorized = head
                        .iter()
                        .any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
                    let is_head = head.first().is_some_and(|l| l.starts_with("HEAD "));
                    let response = if authorized && is_head {
                        // The check's HEAD finds a manifest, so that the copy GETs it.
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ndocker-content-digest: sha256:{}\r\ncontent-length: 0\r\n\r\n",
                            "ab".repeat(32)
                        )
                    } else if authorized {
                        // Echo pages often lead with the header they object to.
                        let mut lines = head.clone();
                        lines
                            .sort_by_key(|l| !l.to_ascii_lowercase().starts_with("authorization:"));
                        let quoted: String = lines.concat();
                        let body = format!(
                            "<html><body><h1>400 Bad Request</h1><pre>{quoted}</pre>{}</body></html>",
                            "<!-- padding -->".repeat(64 * 1024)
                        );
                        format!(
                            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm=\"echo\"\r\ncontent-length: 0\r\n\r\n".to_string()
                    };
                    if stream.write_all(response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_error_page_quoting_the_credentials_is_redacted_and_capped() {
    let upstream = echoing_server();
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("workspace.yaml"),
        format!(
            "target: {{registry: \"{}\", repository_path: mirror}}\n\
             images:\n  - ref: \"{upstream}/team/app:1.0\"\n\
             registries:\n  \"{upstream}\": {{username: robot, password_env: UP_PASSWORD}}\n\
             network: {{retry_for: 1s}}\n",
            target.host()
        ),
    )
    .unwrap();
    let password = "Sup3r-s3cret-pw";
    let out = taskset(dir.path(), &[("UP_PASSWORD", password)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("HTTP 400"), "the failure is reported: {all}");
    assert!(
        all.to_ascii_lowercase()
            .contains("authorization: [redacted] get /v2/team/app/manifests/"),
        "the header's value, and only it, is blanked: {all}"
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("robot:{password}"));
    assert!(!all.contains(&basic), "the Basic credential leaked: {all}");
    assert!(!all.contains(password), "{all}");
    // The 1 MB page is cut to a few hundred bytes wherever it is quoted.
    assert!(all.len() < 16 * 1024, "{} bytes of output", all.len());
    assert!(all.contains("bytes more)"), "{all}");
}
