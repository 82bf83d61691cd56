use std::path::Path;

use super::*;
use acr_sync_azure::AcrName;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "workspace.yaml", text);
    Settings::load(Some(&path), &Env::from_pairs(env.iter().copied()))
}

#[test]
fn the_example_file_is_valid_and_complete() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("workspace.example.yaml");
    let s = Settings::load(Some(&example), &Env::default()).unwrap();
    assert_eq!(
        s.target.registry,
        TargetRegistry::acr(AcrName::parse("myacr").unwrap(), "myacr.azurecr.io".into())
    );
    assert_eq!(s.target.repository_path, "runwhen");
    let cc = s.codecollections.unwrap();
    assert_eq!(cc.images.len(), 5);
    assert_eq!(
        (cc.git_ref.as_str(), cc.architecture.as_str()),
        ("main", "amd64")
    );
    assert_eq!(s.charts.len(), 1);
    assert_eq!(s.charts[0].set["runner.enabled"], "true");
    assert!(matches!(
        s.images[0].rule,
        TagRule::Semver { newest: 1, .. }
    ));
    assert_eq!(s.registries["registry.internal:5000"].tls, Tls::Disabled);
    assert_eq!(s.sync.enabled, None);
}

#[test]
fn environment_overrides_the_file() {
    let s = load(
        "target: {registry: a.example.com, repository_path: mirror}\ncodecollections: {ref: main, images: [x]}\nsync: {date_tag: false}\n",
        &[
            ("REGISTRY_NAME", "myacr"),
            ("REGISTRY_REPOSITORY_PATH", "/other/"),
            ("REF", "dev"),
            ("IMAGE_ARCHITECTURE", "arm64"),
            ("USE_DATE_TAG", "TRUE"),
            ("SYNC_IMAGES", "false"),
            ("OUTPUT_DIR", "/tmp/out"),
        ],
    )
    .unwrap();
    assert_eq!(s.target.registry.to_string(), "myacr.azurecr.io");
    assert_eq!(s.target.repository_path, "other");
    let cc = s.codecollections.unwrap();
    assert_eq!(
        (cc.git_ref.as_str(), cc.architecture.as_str()),
        ("dev", "arm64")
    );
    assert!(s.sync.date_tag);
    assert_eq!(s.sync.enabled, Some(false));
    assert_eq!(s.output_dir, PathBuf::from("/tmp/out"));
    assert_eq!(cc.source, DEFAULT_CODECOLLECTION_SOURCE);
}

#[test]
fn unknown_keys_are_named_with_file_and_line() {
    let err = load(
        "target:\n  registry: a.example.com\n  regsitry_path: x\n",
        &[],
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("workspace.yaml:3:"), "{msg}");
    assert!(msg.contains("regsitry_path"), "{msg}");
    assert!(msg.contains("target"), "{msg}");
}

#[test]
fn wrong_types_are_named_with_line() {
    let err = load("sync:\n  concurrency: many\n", &[]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("workspace.yaml:2:"), "{msg}");
    assert!(msg.contains("concurrency"), "{msg}");
}

#[test]
fn bad_values_name_the_setting() {
    let msg = load("target:\n  registry: not a host\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("workspace.yaml:2: target.registry"), "{msg}");
    assert!(msg.contains("\"not a host\""), "{msg}");

    let msg = load("{}", &[("SYNC_IMAGES", "maybe")])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("environment variable SYNC_IMAGES"), "{msg}");
    assert!(msg.contains("\"maybe\""), "{msg}");

    let msg = load("{}", &[("USE_DOCKER_AUTH", "true")])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("DOCKER_USERNAME"), "{msg}");
}

#[test]
fn image_rules_are_checked_at_their_entry() {
    let text = "images:\n  - ref: nginx\n    tag: \"1.25\"\n  - ref: ghcr.io/a/b\n    tag: v1\n    semver: \">=1\"\n";
    let msg = load(text, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("workspace.yaml:4: images: image ref \"ghcr.io/a/b\""),
        "{msg}"
    );
    assert!(msg.contains("not several"), "{msg}");

    let msg = load("images:\n  - ref: Nginx\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("workspace.yaml:2:"), "{msg}");
    assert!(msg.contains("\"Nginx\""), "{msg}");

    let msg = load(
        "images:\n  - ref: ghcr.io/a/b\n    semver: \"not a range\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("invalid semver range"), "{msg}");
}

#[test]
fn image_rules_read_as_written() {
    let s = load(
        "images:\n  - ref: busybox:1.36\n  - ref: ghcr.io/a/b\n    include: '^v1\\.'\n    exclude: [rc]\n    latest: 2\n  - ref: ghcr.io/a/c\n",
        &[],
    )
    .unwrap();
    assert!(matches!(&s.images[0].rule, TagRule::Exact(t) if t == "1.36"));
    assert_eq!(
        s.images[0].repository.repository_url(),
        "docker.io/library/busybox"
    );
    assert!(
        matches!(&s.images[1].rule, TagRule::Pattern { include, exclude, newest: 2 } if include.len() == 1 && exclude.len() == 1)
    );
    assert!(matches!(&s.images[2].rule, TagRule::Exact(t) if t == "latest"));
}

#[test]
fn workspace_info_names_the_target_acr() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "workspaceInfo.yaml",
        "workspaceName: w\ncustom:\n  private_registry: azure_acr\n  azure_acr_registry: runwhenacr\n",
    );
    let path = write(
        dir.path(),
        "workspace.yaml",
        "workspace_info: workspaceInfo.yaml\n",
    );
    let s = Settings::load(Some(&path), &Env::default()).unwrap();
    assert_eq!(s.target.registry.to_string(), "runwhenacr.azurecr.io");
    assert!(!s.target.is_default);
    let s = Settings::load(
        Some(&path),
        &Env::from_pairs([("REGISTRY_NAME", "127.0.0.1:5000")]),
    )
    .unwrap();
    assert_eq!(s.target.registry.to_string(), "127.0.0.1:5000");
}

#[test]
fn registry_credentials_come_from_the_environment_not_the_file() {
    let text =
        "registries:\n  \"r.example.com\":\n    username: bot\n    password_env: R_PASSWORD\n";
    let s = load(text, &[("R_PASSWORD", "s3cret")]).unwrap();
    let creds = s.registries["r.example.com"].credentials.clone().unwrap();
    assert_eq!(creds.secret().expose(), "s3cret");
    assert!(!format!("{s:?}").contains("s3cret"));
    let msg = load(text, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("workspace.yaml:4: registries.\"r.example.com\".password_env"),
        "{msg}"
    );
    assert!(msg.contains("R_PASSWORD is not set"), "{msg}");
}

#[test]
fn docker_hub_credentials_only_with_docker_auth() {
    let env = [("DOCKER_USERNAME", "me"), ("DOCKER_TOKEN", "tok")];
    assert!(load("{}", &env).unwrap().docker_hub.is_none());
    let s = load("sync: {docker_auth: true}", &env).unwrap();
    let config = s.client_config();
    assert_eq!(
        config.registries["docker.io"]
            .credentials
            .as_ref()
            .unwrap()
            .username(),
        Some("me")
    );
}

#[test]
fn empty_file_means_defaults_with_no_sources() {
    let s = load("", &[]).unwrap();
    assert!(s.target.is_default);
    assert_eq!(
        s.target.registry.to_string(),
        "oci-layout:./acr-sync-mirror"
    );
    assert!(s.codecollections.is_none());
    assert!(s.images.is_empty());
}

#[test]
fn no_file_means_the_seed_image_set() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.yaml");
    // An explicitly named file must exist.
    assert!(matches!(
        Settings::load(Some(&missing), &Env::default()),
        Err(ConfigError::Read { .. })
    ));
    let file = file::parse::<FileConfig>(SEED_DEFAULTS, Path::new("seed")).unwrap();
    let s = build(file, Path::new(""), &Env::default()).unwrap();
    assert_eq!(s.codecollections.unwrap().images.len(), 5);
    assert_eq!(s.charts[0].name.as_deref(), Some("runwhen-local"));
}

#[test]
fn an_acr_target_with_azure_settings() {
    // `target.acr.name` makes a host:port login server an ACR (a private endpoint, a stand-in).
    let s = load(
        "target:\n  registry: \"127.0.0.1:5000\"\n  acr: {name: MyAcr01, resource_group: rg, arm_endpoint: \"http://127.0.0.1:6000\"}\n",
        &[
            ("AZURE_CLIENT_ID", "id"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_SECRET", "very-secret"),
            ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:6001"),
            ("AZURE_SUBSCRIPTION_ID", "sub"),
        ],
    )
    .unwrap();
    assert_eq!(
        s.target.registry,
        TargetRegistry::acr(AcrName::parse("myacr01").unwrap(), "127.0.0.1:5000".into())
    );
    assert_eq!(
        s.azure.endpoints.resource_manager.as_str(),
        "http://127.0.0.1:6000/"
    );
    assert_eq!(
        s.azure.endpoints.authority_host.as_str(),
        "http://127.0.0.1:6001/"
    );
    assert_eq!(s.azure.resource_group.as_deref(), Some("rg"));
    assert!(s.azure.credential.is_some());
    assert!(s.acr_importer().is_some());
    assert!(
        s.client_config()
            .credential_providers
            .contains_key("127.0.0.1:5000")
    );
    assert!(!format!("{s:?}").contains("very-secret"));

    // The cloud follows the login server; no identity in the environment, no provider.
    let s = load("target: {registry: chinaacr.azurecr.cn}\n", &[]).unwrap();
    assert_eq!(s.azure.endpoints.cloud, acr_sync_azure::Cloud::China);
    assert!(s.azure.credential.is_none());
    assert!(s.acr_importer().is_none());
    assert!(s.client_config().credential_providers.is_empty());

    // A bare name takes the configured cloud's suffix.
    let s = load(
        "target: {registry: govacr, acr: {cloud: AzureUSGovernment}}\n",
        &[],
    )
    .unwrap();
    assert_eq!(s.target.registry.to_string(), "govacr.azurecr.us");
    assert_eq!(
        s.azure.endpoints.resource_manager.as_str(),
        "https://management.usgovcloudapi.net/"
    );

    // A plain registry gets no Entra credential even when the environment has one.
    let s = load(
        "target: {registry: \"registry.internal:5000\"}\n",
        &[
            ("AZURE_CLIENT_ID", "id"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_SECRET", "x"),
        ],
    )
    .unwrap();
    assert!(s.azure.credential.is_none());

    for (yaml, key) in [
        (
            "target: {registry: myacr, acr: {cloud: mars}}\n",
            "target.acr.cloud",
        ),
        (
            "target: {registry: \"h:1\", acr: {name: a-b}}\n",
            "target.acr.name",
        ),
        (
            "target: {registry: myacr, acr: {arm_endpoint: \"ftp://x\"}}\n",
            "target.acr.arm_endpoint",
        ),
    ] {
        let err = load(yaml, &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn code_collection_settings_are_checked_when_read() {
    let text = "codecollections:\n  ref: main\n  images: [a]\n";
    let msg = load(text, &[("REF", "feature/x")]).unwrap_err().to_string();
    assert!(msg.contains("environment variable REF"), "{msg}");
    assert!(msg.contains("\"feature/x\""), "{msg}");
    let msg = load("codecollections:\n  images: [Bad_Name]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("workspace.yaml:2: codecollections.images"),
        "{msg}"
    );
    let msg = load(
        "codecollections:\n  source: \"not a host/x\"\n  images: [a]\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("codecollections.source"), "{msg}");
}

#[test]
fn settings_that_cannot_work_are_refused_up_front() {
    let msg = load("sync:\n  concurrency: 0\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("workspace.yaml:2") && msg.contains("sync.concurrency"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "plain-file", "not a directory");
    let under = file.join("mirror");
    let text = format!("target:\n  registry: \"oci-layout:{}\"\n", under.display());
    let msg = load(&text, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("target.registry")
            && msg.contains(&format!("{} is a regular file", file.display())),
        "{msg}"
    );

    let text = "charts:\n  - chart: ./no-such-chart\n  - chart: oci://example.invalid/c\n    values_files: [missing.yaml]\n";
    let msg = load(text, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("charts[0].chart") && msg.contains("no-such-chart does not exist"),
        "{msg}"
    );
    let text = "charts:\n  - chart: oci://example.invalid/c\n    values_files: [missing.yaml]\n";
    let msg = load(text, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("charts[0].values_files") && msg.contains("missing.yaml does not exist"),
        "{msg}"
    );

    let msg = load("network:\n  retry_for: 99999999999999999d\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("retry_for") && msg.contains("99999999999999999d"),
        "{msg}"
    );
}

#[test]
fn errors_of_checked_values_name_their_key() {
    let settings = load("sync:\n  deadline: 1h30m\n", &[]).unwrap();
    assert_eq!(
        settings.sync.deadline,
        Some(std::time::Duration::from_secs(5400))
    );
    for bad in ["0", "99999999999999999d", "soon"] {
        let msg = load(&format!("sync:\n  deadline: {bad}\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("deadline") && msg.contains("workspace.yaml:2"),
            "{msg}"
        );
    }
    let msg = load("network:\n  retry_for: 99999999999999999d\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("retry_for") && msg.contains("workspace.yaml:2"),
        "{msg}"
    );
    let msg = load("images:\n  - ref: ghcr.io/a/b\n    include: \"(\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("include: invalid regex"), "{msg}");
    let msg = load("workspace_info: no-such-workspaceInfo.yaml\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("workspace_info") && msg.contains("no-such-workspaceInfo.yaml"),
        "{msg}"
    );
}

mod properties {
    //! Config files come from people and from generators: whatever the text, loading it
    //! returns settings or an error, never a panic.
    use super::*;
    use proptest::prelude::*;

    /// YAML-shaped text built from the file's own keys and hostile values.
    fn config_text() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "target",
            "registry",
            "repository_path",
            "acr",
            "name",
            "cloud",
            "images",
            "ref",
            "tag",
            "semver",
            "include",
            "exclude",
            "latest",
            "sync",
            "concurrency",
            "date_tag",
            "network",
            "retry_for",
            "request_timeout",
            "min_transfer_rate",
            "registries",
            "tls",
            "ca_file",
            "username",
            "password_env",
            "charts",
            "chart",
            "values_files",
            "set",
            "codecollections",
            "source",
            "output_dir",
            "workspace_info",
            "deadline",
        ]);
        let value = prop::sample::select(vec![
            "",
            "0",
            "-1",
            "99999999999999999d",
            "1h30m",
            "oci-layout:",
            "oci-layout:/dev/null/x",
            "myacr",
            "a.azurecr.io",
            "http://x",
            "\"(\"",
            "[",
            "{",
            "~",
            "null",
            "true",
            "'*'",
            "\"\\u0000\"",
            ">=1 <",
            "ghcr.io/a/b@sha256:00",
            "10KiB/s",
            "[a, b]",
        ]);
        let line = (0usize..4, key, value).prop_map(|(indent, k, v)| {
            format!(
                "{}{}{k}: {v}\n",
                "  ".repeat(indent),
                if indent == 3 { "- " } else { "" }
            )
        });
        prop::collection::vec(line, 0..12).prop_map(|lines| lines.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn loading_never_panics(text in config_text()) {
            let _ = load(&text, &[]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(text in "\\PC{0,200}") {
            let _ = load(&text, &[]);
        }
    }
}
