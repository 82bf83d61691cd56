//! The registry client against the real CNCF distribution registry (Debian's
//! `docker-registry`), with anonymous, htpasswd and token auth, TLS, and the harness's
//! fault proxy for what a healthy registry never does (429, corrupt bytes, pages).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acr_sync::registry::manifest::Platform;
use acr_sync::registry::{
    Client, ClientConfig, Credentials, Digest, ErrorKind, Mount, Reference, RegistrySettings,
    RetryPolicy, Tls,
};
use acr_sync_testkit::{
    Fault, FaultKind, FaultProxy, ImageBuilder, MediaKind, Registry, RegistryOptions, TestIndex,
    TokenServerOptions, TokenUser,
};
use futures::StreamExt;

fn config(host: &str, settings: RegistrySettings) -> ClientConfig {
    ClientConfig {
        registries: BTreeMap::from([(host.to_string(), settings)]),
        retry: RetryPolicy {
            max_elapsed: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
        },
        ..ClientConfig::default()
    }
}

fn anonymous(host: &str) -> Client {
    Client::new(config(host, RegistrySettings::default())).unwrap()
}

fn with_credentials(host: &str, user: &str, password: &str) -> Client {
    let settings = RegistrySettings {
        credentials: Some(Credentials::new(user, password)),
        ..RegistrySettings::default()
    };
    Client::new(config(host, settings)).unwrap()
}

fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{host}/{rest}")).unwrap()
}

fn digest(text: &str) -> Digest {
    text.parse().unwrap()
}

#[tokio::test]
async fn lists_every_tag_across_pages() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(1).build();
    let first = reg.pusher().push_image("team/app", "base", &image).await;
    let tags: Vec<String> = (0..250).map(|i| format!("t{i:03}")).collect();
    reg.pusher().tags_many("team/app", &first, &tags).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    proxy.add(Fault::paginate_tags(Some(100)));

    let list = anonymous(&proxy.host())
        .list_tags(&proxy.host(), "team/app")
        .await
        .unwrap();
    assert_eq!(list.tags.len(), 251);
    assert!(list.tags.contains(&"t249".to_string()) && list.tags.contains(&"base".to_string()));
    assert!(
        list.digests.is_none(),
        "only Google's registries send a digest map"
    );
    assert_eq!(
        proxy.count("GET", "/tags/list"),
        3,
        "three pages of at most 100"
    );
}

#[tokio::test]
async fn resolves_a_platform_and_reads_creation_dates() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let index = TestIndex::multi_arch(3, MediaKind::Docker, true);
    reg.pusher().push_index("team/app", "v1", &index).await;
    let client = anonymous(&reg.host());
    let r = reference(&reg.host(), "team/app:v1");

    let head = client.head_manifest(&r).await.unwrap().unwrap();
    assert_eq!(head.digest, digest(&index.digest));
    assert!(head.is_index());
    let manifest = client.get_manifest(&r).await.unwrap();
    assert_eq!(manifest.bytes, index.manifest, "the exact bytes");
    assert_eq!(manifest.digest, digest(&index.digest));

    let arm64 = index.image_for("linux", "arm64").unwrap();
    let child = manifest
        .select_platform(&Platform::linux("arm64"))
        .unwrap()
        .unwrap();
    assert_eq!(child.digest, digest(&arm64.digest));
    assert!(
        manifest
            .select_platform(&Platform::linux("s390x"))
            .unwrap()
            .is_none()
    );
    let unknown = Platform {
        os: "unknown".into(),
        architecture: "unknown".into(),
        variant: None,
    };
    assert!(
        manifest.select_platform(&unknown).unwrap().is_none(),
        "attestations are skipped"
    );

    let created = client
        .created(&r, &Platform::linux("amd64"))
        .await
        .unwrap()
        .unwrap();
    let amd64 = index.image_for("linux", "amd64").unwrap();
    assert_eq!(
        created,
        chrono::DateTime::parse_from_rfc3339(&amd64.created).unwrap()
    );

    let epoch = ImageBuilder::new(4).created("1970-01-01T00:00:00Z").build();
    reg.pusher().push_image("team/old", "v1", &epoch).await;
    let old = reference(&reg.host(), "team/old:v1");
    assert_eq!(
        client
            .created(&old, &Platform::linux("amd64"))
            .await
            .unwrap(),
        None,
        "1970 is unknown"
    );

    assert!(
        client
            .head_manifest(&reference(&reg.host(), "team/app:nope"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn copies_a_blob_with_and_without_a_mount() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(5).random_layer(3 * 1024 * 1024).build();
    reg.pusher().push_image("src/app", "v1", &image).await;
    let layer = &image.layers[0];
    let layer_digest = digest(&layer.digest);
    let client = anonymous(&reg.host());
    let host = reg.host();

    // Without a mount: streamed from one repository into another.
    let mark = reg.log_mark().await;
    let stream = client
        .get_blob(&host, "src/app", &layer_digest)
        .await
        .unwrap();
    client
        .put_blob(&host, "dst/one", &layer_digest, layer.size(), stream)
        .await
        .unwrap();
    assert_eq!(
        client
            .blob_exists(&host, "dst/one", &layer_digest)
            .await
            .unwrap(),
        Some(layer.size())
    );
    let requests = reg.requests_since(mark).await;
    assert!(requests.iter().any(|r| r.is_upload_start()), "{requests:?}");

    // With a mount: nothing goes through us.
    let mark = reg.log_mark().await;
    let mount = client
        .mount_blob(&host, "dst/two", "src/app", &layer_digest)
        .await
        .unwrap();
    assert!(matches!(mount, Mount::Mounted));
    let requests = reg.requests_since(mark).await;
    assert!(requests.iter().any(|r| r.is_mount()), "{requests:?}");
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "PUT" || r.method == "PATCH"),
        "{requests:?}"
    );
    assert!(
        client
            .blob_exists(&host, "dst/two", &layer_digest)
            .await
            .unwrap()
            .is_some()
    );

    // A mount from a repository that lacks the blob falls back to an upload session.
    let config_digest = digest(&image.config.digest);
    let mount = client
        .mount_blob(&host, "dst/three", "no/such", &config_digest)
        .await
        .unwrap();
    let Mount::NotMounted(session) = mount else {
        panic!("expected a fallback upload")
    };
    let body = futures::stream::iter([Ok(image.config.bytes.clone())]);
    client
        .upload(session, &config_digest, image.config.size(), body)
        .await
        .unwrap();
    assert!(
        client
            .blob_exists(&host, "dst/three", &config_digest)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn large_blobs_upload_in_chunks_and_stream() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(6)
        .random_layer(5 * 1024 * 1024 + 17)
        .build();
    reg.pusher().push_image("src/big", "v1", &image).await;
    let layer = &image.layers[0];
    let d = digest(&layer.digest);
    let mut cfg = config(&reg.host(), RegistrySettings::default());
    cfg.upload_chunk_size = 1024 * 1024;
    let client = Client::new(cfg).unwrap();

    let mark = reg.log_mark().await;
    let stream = client.get_blob(&reg.host(), "src/big", &d).await.unwrap();
    client
        .put_blob(&reg.host(), "dst/big", &d, layer.size(), stream)
        .await
        .unwrap();
    let patches = reg
        .requests_since(mark)
        .await
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert!(patches >= 5, "chunked upload: {patches} PATCHes");
    let back = reg
        .pusher()
        .get_blob("dst/big", &layer.digest)
        .await
        .unwrap();
    assert_eq!(back, layer.bytes);
}

#[tokio::test]
async fn basic_auth_and_401_on_wrong_credentials() {
    let reg = Registry::start(RegistryOptions::basic(&[("alice", "wonderland")])).await;
    let image = ImageBuilder::new(7).build();
    reg.pusher().push_image("team/app", "v1", &image).await;
    let r = reference(&reg.host(), "team/app:v1");

    let ok = with_credentials(&reg.host(), "alice", "wonderland");
    assert_eq!(
        ok.head_manifest(&r).await.unwrap().unwrap().digest,
        digest(&image.digest)
    );

    let err = with_credentials(&reg.host(), "alice", "wrong-password")
        .head_manifest(&r)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Unauthorized {
                with_credentials: true,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&reg.host()) && msg.contains("team/app"),
        "{msg}"
    );
    assert!(
        !msg.contains("wrong-password"),
        "no secret in errors: {msg}"
    );

    let err = anonymous(&reg.host()).head_manifest(&r).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Unauthorized {
                with_credentials: false,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn token_auth_caches_tokens_and_tells_401_from_403() {
    let opts = TokenServerOptions::new()
        .user(TokenUser::new("writer", "pw-writer"))
        .user(TokenUser::pull_only("reader", "pw-reader"))
        .forbid_missing_grants(true);
    let reg = Registry::start(RegistryOptions::token(opts)).await;
    let image = ImageBuilder::new(8).build();
    reg.pusher().push_image("team/app", "v1", &image).await;
    let r = reference(&reg.host(), "team/app:v1");
    let tokens = reg.token_server().unwrap();

    let reader = with_credentials(&reg.host(), "reader", "pw-reader");
    let before = tokens.issued();
    for _ in 0..3 {
        assert!(reader.head_manifest(&r).await.unwrap().is_some());
    }
    reader.get_manifest(&r).await.unwrap();
    assert_eq!(
        tokens.issued() - before,
        1,
        "one pull token serves every read of the repository"
    );

    // The reader's credentials are right but lack push: 403, not 401.
    let err = reader
        .put_manifest(
            &reference(&reg.host(), "team/app:v2"),
            &image.media_type,
            image.manifest.clone(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Forbidden { .. }), "{err}");

    let err = with_credentials(&reg.host(), "reader", "bad")
        .head_manifest(&r)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Unauthorized {
                with_credentials: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("bad\""), "{err}");

    // The writer pushes a manifest whose blobs are there: the exact bytes land.
    let writer = with_credentials(&reg.host(), "writer", "pw-writer");
    let pushed = writer
        .put_manifest(
            &reference(&reg.host(), "team/app:v2"),
            &image.media_type,
            image.manifest.clone(),
        )
        .await
        .unwrap();
    assert_eq!(pushed, digest(&image.digest));
}

#[tokio::test]
async fn tls_with_the_registrys_ca() {
    let reg = Registry::start(RegistryOptions::anonymous().tls()).await;
    let image = ImageBuilder::new(9).build();
    reg.pusher().push_image("team/app", "v1", &image).await;
    let r = reference(&reg.host(), "team/app:v1");

    let trusted = RegistrySettings {
        tls: Tls::Enabled,
        ca_pem: reg.ca_pem().map(str::to_string),
        ..RegistrySettings::default()
    };
    let client = Client::new(config(&reg.host(), trusted)).unwrap();
    assert_eq!(
        client.head_manifest(&r).await.unwrap().unwrap().digest,
        digest(&image.digest)
    );

    let untrusted = RegistrySettings {
        tls: Tls::Enabled,
        ..RegistrySettings::default()
    };
    let mut cfg = config(&reg.host(), untrusted);
    cfg.retry = RetryPolicy::none();
    let err = Client::new(cfg)
        .unwrap()
        .head_manifest(&r)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TlsVerification { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn waits_for_retry_after_then_succeeds() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(10).build();
    reg.pusher().push_image("team/app", "v1", &image).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    proxy.add(
        Fault::too_many_requests(1, 1)
            .method("HEAD")
            .path("/manifests/"),
    );
    proxy.add(Fault::add_header("ratelimit-remaining", "97;w=21600"));
    let client = anonymous(&proxy.host());

    let started = Instant::now();
    let head = client
        .head_manifest(&reference(&proxy.host(), "team/app:v1"))
        .await
        .unwrap();
    assert_eq!(head.unwrap().digest, digest(&image.digest));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was honoured"
    );
    let heads: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "HEAD")
        .collect();
    assert_eq!(
        heads.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 200]
    );

    let stats = client.stats();
    let mine = stats.iter().find(|s| s.registry == proxy.host()).unwrap();
    assert_eq!(mine.requests[&("HEAD".to_string(), "429".to_string())], 1);
    assert_eq!(mine.requests[&("HEAD".to_string(), "200".to_string())], 1);
    assert_eq!(mine.ratelimit_remaining, Some(97));
}

#[tokio::test]
async fn gives_up_after_the_retry_budget_naming_registry_repository_and_status() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    proxy.add(Fault::status(503, 1000).path("/manifests/"));
    let mut cfg = config(&proxy.host(), RegistrySettings::default());
    cfg.retry.max_elapsed = Duration::from_secs(1);
    let client = Client::new(cfg).unwrap();
    let started = Instant::now();
    let err = client
        .head_manifest(&reference(&proxy.host(), "team/app:v1"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let msg = err.to_string();
    assert!(
        msg.contains(&proxy.host()) && msg.contains("team/app") && msg.contains("503"),
        "{msg}"
    );
    assert!(err.attempts() > 1, "it retried");
}

#[tokio::test]
async fn refuses_content_that_does_not_match_its_digest() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(11).random_layer(64 * 1024).build();
    reg.pusher().push_image("team/app", "v1", &image).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    let client = anonymous(&proxy.host());

    proxy.add(
        Fault::new(FaultKind::CorruptBody)
            .method("GET")
            .path("/manifests/")
            .times(1),
    );
    let err = client
        .get_manifest(&reference(&proxy.host(), "team/app:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );

    proxy.add(Fault::corrupt_blob(1));
    let layer = digest(&image.layers[0].digest);
    let mut stream = client
        .get_blob(&proxy.host(), "team/app", &layer)
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    let err = last.unwrap().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("team/app"), "{err}");
}

#[tokio::test]
async fn an_unreachable_registry_is_named() {
    let port = acr_sync_testkit::free_port();
    let host = format!("127.0.0.1:{port}");
    let mut cfg = config(&host, RegistrySettings::default());
    cfg.retry.max_elapsed = Duration::from_millis(300);
    let err = Client::new(cfg)
        .unwrap()
        .head_manifest(&reference(&host, "a/b:c"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&host), "{err}");
}

#[tokio::test]
async fn credentials_are_never_sent_to_a_plain_http_realm_of_an_https_registry() {
    let opts = TokenServerOptions::new().user(TokenUser::new("writer", "pw-writer"));
    let reg = Registry::start(RegistryOptions::token(opts).tls()).await;
    let settings = RegistrySettings {
        tls: Tls::Enabled,
        ca_pem: reg.ca_pem().map(str::to_string),
        credentials: Some(Credentials::new("writer", "pw-writer")),
    };
    let client = Client::new(config(&reg.host(), settings)).unwrap();
    let err = client
        .head_manifest(&reference(&reg.host(), "team/app:v1"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Credentials(_)), "{err}");
    assert!(err.to_string().contains("not HTTPS"), "{err}");
    let tokens = reg.token_server().unwrap();
    assert!(
        tokens.requests().iter().all(|r| r.user.is_none()),
        "{:?}",
        tokens.requests()
    );
}
