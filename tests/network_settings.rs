//! `network:` settings: limits that make no sense are refused with the key and line, and
//! the minimum transfer rate reaches the registry client.

use acr_sync::config::{Env, Settings};
use acr_sync::registry::MinTransferRate;

fn load(yaml: &str) -> Result<Settings, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workspace.yaml");
    std::fs::write(&path, yaml).unwrap();
    Settings::load(Some(&path), &Env::from_pairs::<&str, &str>([])).map_err(|e| e.to_string())
}

#[test]
fn a_zero_request_timeout_is_refused_with_its_key() {
    for zero in ["0", "\"0\""] {
        let msg = load(&format!(
            "images: []\nnetwork:\n  request_timeout: {zero}\n"
        ))
        .unwrap_err();
        assert!(msg.contains("network.request_timeout"), "{msg}");
        assert!(msg.contains("forever"), "{msg}");
    }
    assert!(load("network: {request_timeout: 5s}\n").is_ok());
}

#[test]
fn the_minimum_transfer_rate_reaches_the_client() {
    let default = load("{}").unwrap().client_config().min_transfer_rate;
    assert_eq!(default, Some(MinTransferRate::default()));
    assert_eq!(
        default,
        Some(MinTransferRate {
            bytes_per_second: 10 * 1024,
            window: std::time::Duration::from_secs(30)
        })
    );
    let s = load("network: {min_transfer_rate: 1MiB/s, min_transfer_window: 10s}\n").unwrap();
    assert_eq!(
        s.client_config().min_transfer_rate,
        Some(MinTransferRate {
            bytes_per_second: 1024 * 1024,
            window: std::time::Duration::from_secs(10)
        })
    );
    for (text, bytes) in [("500", 500), ("64 KB/s", 64_000), ("2KiB", 2048)] {
        let s = load(&format!("network: {{min_transfer_rate: \"{text}\"}}\n")).unwrap();
        assert_eq!(
            s.client_config()
                .min_transfer_rate
                .unwrap()
                .bytes_per_second,
            bytes,
            "{text}"
        );
    }
    let off = load("network: {min_transfer_rate: 0}\n").unwrap();
    assert_eq!(off.client_config().min_transfer_rate, None);
    let msg = load("network:\n  min_transfer_rate: fast\n").unwrap_err();
    assert!(msg.contains("min_transfer_rate"), "{msg}");
    assert!(msg.contains("KiB/s"), "{msg}");
}
