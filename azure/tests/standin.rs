//! The Azure client against the harness's Azure stand-in: Entra credentials, the ACR token
//! exchange, the `_tags` listing and ARM importImage really copying into a docker-registry.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use acr_sync_azure::{
    AcrCredentials, AcrImporter, Cloud, Credential, CredentialKind, EndpointKind, Endpoints,
    FallbackReason, ImportError, ImportMode, TagListings, can_import, inspect, list_manifests,
    list_tags, listing_refused,
};
use acr_sync_registry::{Client, ClientConfig, Credentials, ProvidedCredentials, Reference};
use acr_sync_testkit::{
    AzureOptions, AzureStandIn, Fault, FaultProxy, ImageBuilder, IndexBuilder, MediaKind, Registry,
    RegistryOptions, TestIndex,
};

fn endpoints(az: &AzureStandIn) -> Endpoints {
    Endpoints::for_cloud(Cloud::Public)
        .with_override(EndpointKind::Authority, &az.authority_host(), "test")
        .unwrap()
        .with_override(EndpointKind::ResourceManager, &az.arm_endpoint(), "test")
        .unwrap()
        .with_override(EndpointKind::Imds, &az.base_url(), "test")
        .unwrap()
}

fn credential(az: &AzureStandIn, env: &[(String, String)]) -> Arc<Credential> {
    let map: HashMap<String, String> = env.iter().cloned().collect();
    Arc::new(Credential::from_env(
        &|k| map.get(k).cloned(),
        endpoints(az),
    ))
}

fn secret_env(az: &AzureStandIn) -> Arc<Credential> {
    credential(az, &az.client_secret_env())
}

fn client(az: &AzureStandIn, cred: Arc<Credential>) -> Client {
    let mut config = ClientConfig::default();
    config.credential_providers.insert(
        az.login_server(),
        ProvidedCredentials(Arc::new(AcrCredentials::new(cred, &az.login_server()))),
    );
    config.retry.max_elapsed = Duration::from_secs(2);
    Client::new(config).unwrap()
}

fn importer(az: &AzureStandIn, cred: Arc<Credential>) -> AcrImporter {
    AcrImporter::new(cred, &az.options().registry_name, &az.login_server())
        .timeout(Duration::from_secs(60))
}

/// Every secret the stand-in knows must be absent from `text`.
fn assert_no_secret(az: &AzureStandIn, text: &str) {
    for s in az.secrets() {
        assert!(!text.contains(&s), "a secret leaked into: {text}");
    }
}

#[tokio::test]
async fn client_secret_tokens_are_cached_and_exchanged_for_acr_access() {
    let az = AzureStandIn::start(AzureOptions::default()).await;
    let index = TestIndex::multi_arch(3, MediaKind::Oci, false);
    let pusher = az.registry().pusher();
    pusher.push_index("team/app", "v1", &index).await;
    pusher.tag("team/app", &index.digest, "v2").await;

    let cred = secret_env(&az);
    assert_eq!(cred.kind(), CredentialKind::ClientSecret);
    let c = client(&az, cred.clone());
    let r = Reference::parse(&format!("{}/team/app:v1", az.login_server())).unwrap();
    let head = c.head_manifest(&r).await.unwrap().unwrap();
    assert_eq!(head.digest.to_string(), index.digest);

    let tags = list_tags(&c, &az.login_server(), "team/app").await.unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["v1", "v2"]);
    assert!(tags.iter().all(|t| t.digest.to_string() == index.digest));
    assert!(tags[0].created_time.is_some() && tags[0].last_update_time.is_some());
    let manifests = list_manifests(&c, &az.login_server(), "team/app")
        .await
        .unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].tags, ["v1", "v2"]);
    // A repository that does not exist lists as empty.
    assert!(
        list_tags(&c, &az.login_server(), "team/none")
            .await
            .unwrap()
            .is_empty()
    );

    // One Entra token and one exchange served everything: tokens are cached.
    assert_eq!(az.count("POST", "/oauth2/v2.0/token"), 1);
    assert_eq!(az.count("POST", "/oauth2/exchange"), 1);
    // The challenge was learnt on /v2/: the listing is one request.
    assert_eq!(az.count("GET", "/acr/v1/team/app/_tags"), 1);
}

#[tokio::test]
async fn listing_follows_link_pages() {
    let az = AzureStandIn::start(AzureOptions::default()).await;
    let img = ImageBuilder::new(5).build();
    let pusher = az.registry().pusher();
    let digest = pusher.push_image("team/many", "t0000", &img).await;
    let tags: Vec<String> = (1..1205).map(|i| format!("t{i:04}")).collect();
    pusher.tags_many("team/many", &digest, &tags).await;
    let c = client(&az, secret_env(&az));
    let listed = list_tags(&c, &az.login_server(), "team/many")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1205);
    // 1000 per page: two pages after the challenge.
    assert_eq!(az.count("GET", "/acr/v1/team/many/_tags"), 3);
}

#[tokio::test]
async fn a_pull_only_identity_is_refused_the_listing() {
    let az = AzureStandIn::start(AzureOptions {
        grant_metadata_read: false,
        ..AzureOptions::default()
    })
    .await;
    let img = ImageBuilder::new(8).build();
    az.registry()
        .pusher()
        .push_image("team/app", "v1", &img)
        .await;
    let c = client(&az, secret_env(&az));
    let err = list_tags(&c, &az.login_server(), "team/app")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("403") || err.to_string().contains("insufficient_scope"),
        "{err}"
    );
    // The target store falls back to a HEAD on exactly this (tests/acr.rs shows it).
    assert!(listing_refused(&err), "{err}");
    let listings = TagListings::new(c, &az.login_server());
    let refused = listings.tag("team/app", "v1").await.unwrap_err();
    assert!(listing_refused(&refused), "{refused}");
}

#[tokio::test]
async fn workload_identity_rereads_the_token_file_and_app_service_identity_works() {
    let az = AzureStandIn::start(AzureOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "an-old-projected-token").unwrap();
    let o = az.options().clone();
    let env = vec![
        ("AZURE_CLIENT_ID".to_string(), o.client_id.clone()),
        ("AZURE_TENANT_ID".to_string(), o.tenant_id.clone()),
        (
            "AZURE_FEDERATED_TOKEN_FILE".to_string(),
            file.display().to_string(),
        ),
    ];
    let cred = credential(&az, &env);
    assert_eq!(cred.kind(), CredentialKind::WorkloadIdentity);
    let err = cred
        .token("https://management.azure.com/.default")
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(401), "{err}");
    assert!(err.to_string().contains("invalid_client"), "{err}");
    // The kubelet rotated the file: the next request reads the new token.
    std::fs::write(&file, &o.federated_token).unwrap();
    cred.token("https://management.azure.com/.default")
        .await
        .unwrap();

    let app = vec![
        ("IDENTITY_ENDPOINT".to_string(), az.identity_endpoint()),
        ("IDENTITY_HEADER".to_string(), o.identity_header.clone()),
    ];
    let cred = credential(&az, &app);
    assert_eq!(cred.kind(), CredentialKind::AppServiceManagedIdentity);
    let c = client(&az, cred);
    assert!(
        list_tags(&c, &az.login_server(), "x/y")
            .await
            .unwrap()
            .is_empty()
    );

    // IMDS, with the endpoint pointed at the stand-in.
    let cred = credential(&az, &[]);
    assert_eq!(cred.kind(), CredentialKind::ImdsManagedIdentity);
    let c = client(&az, cred);
    assert!(
        list_tags(&c, &az.login_server(), "x/y")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(az.count("GET", "/msi/token"), 1);
    assert_eq!(az.count("GET", "/metadata/identity/oauth2/token"), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_error_without_the_secret() {
    let az = AzureStandIn::start(AzureOptions::default()).await;
    let mut env = az.client_secret_env();
    env.iter_mut()
        .find(|(k, _)| k == "AZURE_CLIENT_SECRET")
        .unwrap()
        .1 = "a-wrong-secret-value".into();
    let c = client(&az, credential(&az, &env));
    let err = list_tags(&c, &az.login_server(), "x/y").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains("a-wrong-secret-value"), "{text}");
    assert_no_secret(&az, &text);
}

/// ARM list requests: `GET /subscriptions` and `GET .../registries`.
fn discovery_requests(az: &AzureStandIn) -> usize {
    az.requests()
        .iter()
        .filter(|r| {
            r.method == "GET" && (r.path == "/subscriptions" || r.path.ends_with("/registries"))
        })
        .count()
}

struct Upstream {
    registry: Registry,
    index: TestIndex,
}

async fn upstream() -> Upstream {
    let registry = Registry::start(RegistryOptions::anonymous()).await;
    let index = TestIndex::multi_arch(9, MediaKind::Oci, true);
    registry
        .pusher()
        .push_index("library/app", "1.0", &index)
        .await;
    Upstream { registry, index }
}

#[tokio::test]
async fn import_copies_through_the_long_running_operation_and_noforce_conflicts() {
    let az = AzureStandIn::start(AzureOptions {
        polls_before_done: 2,
        retry_after: 0,
        ..AzureOptions::default()
    })
    .await;
    let up = upstream().await;
    let source = Reference::parse(&format!("{}/library/app:1.0", up.registry.host())).unwrap();
    // Subscription and resource group are discovered from the registry name.
    let imp = importer(&az, secret_env(&az));
    let done = imp
        .import_image(&source, "runwhen/app", "1.0", ImportMode::NoForce)
        .await
        .unwrap();
    assert_eq!(done.target, "runwhen/app:1.0");
    assert!(done.polls >= 3, "{done:?}");
    let got = az
        .registry()
        .pusher()
        .get_manifest("runwhen/app", "1.0")
        .await
        .unwrap();
    assert_eq!(
        got.digest, up.index.digest,
        "identical digest in the target"
    );
    assert_eq!(discovery_requests(&az), 2, "subscriptions, then registries");
    let resource = imp.resource().await.unwrap();
    assert_eq!(resource.resource_group, az.options().resource_group);

    let err = imp
        .import_image(&source, "runwhen/app", "1.0", ImportMode::NoForce)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::TagExists { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("runwhen/app:1.0") && text.contains("--force"),
        "{text}"
    );
    imp.import_image(&source, "runwhen/app", "1.0", ImportMode::Force)
        .await
        .unwrap();
    // Three operations accepted: the NoForce conflict fails while it is polled.
    assert_eq!(az.imports(), 3);
}

#[tokio::test]
async fn async_operation_header_is_polled_and_failures_are_mapped() {
    let az = AzureStandIn::start(AzureOptions {
        async_operation: true,
        retry_after: 0,
        ..AzureOptions::default()
    })
    .await;
    let up = upstream().await;
    let proxy = FaultProxy::start(&up.registry.base_url()).await;
    proxy.add(Fault::too_many_requests(30, 100).path("/manifests/"));
    let cred = secret_env(&az);
    let o = az.options();
    let imp = importer(&az, cred.clone())
        .subscription(Some(o.subscription_id.clone()))
        .resource_group(Some(o.resource_group.clone()));

    let limited = Reference::parse(&format!("{}/library/app:1.0", proxy.host())).unwrap();
    let err = imp
        .import_image(&limited, "runwhen/app", "1.0", ImportMode::NoForce)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::SourceRateLimited { .. }),
        "{err:?}"
    );
    assert!(az.count("GET", "/operationStatuses/") >= 1);
    assert_eq!(discovery_requests(&az), 0, "configured: no discovery");

    // More than 50 manifests: ACR refuses, and the error says to fall back.
    let mut b = IndexBuilder::new(MediaKind::Oci);
    for i in 0..51 {
        b = b.image(
            ImageBuilder::new(100 + i)
                .platform("linux", &format!("arch{i}"))
                .build(),
        );
    }
    let big = b.build();
    up.registry
        .pusher()
        .push_index("library/big", "1", &big)
        .await;
    let source = Reference::parse(&format!("{}/library/big:1", up.registry.host())).unwrap();
    // `auto` decides before asking ARM: one manifest GET says 52 manifests.
    let plain = Client::new(ClientConfig::default()).unwrap();
    let shape = inspect(&plain, &source).await.unwrap();
    assert_eq!(shape.manifests, 52);
    assert_eq!(
        imp.precheck(&plain, &source).await,
        Err(FallbackReason::TooManyManifests(52))
    );
    let small = Reference::parse(&format!("{}/library/app:1.0", up.registry.host())).unwrap();
    assert_eq!(imp.precheck(&plain, &small).await, Ok(()));
    assert_eq!(
        can_import(
            shape.manifests,
            shape.largest_layer,
            source.registry(),
            imp.endpoints()
        ),
        Err(FallbackReason::TooManyManifests(52))
    );
    // And ARM refuses it too, saying to fall back.
    let err = imp
        .import_image(&source, "runwhen/big", "1", ImportMode::NoForce)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.wants_fallback(),
            Some(FallbackReason::TooManyManifests(_))
        ),
        "{err:?}"
    );

    az.set_import_forbidden(true);
    let source = Reference::parse(&format!("{}/library/app:1.0", up.registry.host())).unwrap();
    let err = imp
        .import_image(&source, "runwhen/app", "1.0", ImportMode::NoForce)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::MissingRole { .. }), "{err:?}");
    assert!(err.to_string().contains("importImage/action"), "{err}");
    assert_no_secret(&az, &format!("{err} {err:?} {imp:?}"));
}

#[tokio::test]
async fn source_credentials_reach_a_private_upstream() {
    let az = AzureStandIn::start(AzureOptions {
        retry_after: 0,
        ..AzureOptions::default()
    })
    .await;
    let private = Registry::start(RegistryOptions::basic(&[("puller", "pull-pass-Y6")])).await;
    let index = TestIndex::multi_arch(12, MediaKind::Docker, false);
    private.pusher().push_index("vendor/app", "2", &index).await;
    let source = Reference::parse(&format!("{}/vendor/app:2", private.host())).unwrap();

    let imp = importer(&az, secret_env(&az));
    let err = imp
        .import_image(&source, "runwhen/app", "2", ImportMode::NoForce)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::SourceUnauthorized { .. }),
        "{err:?}"
    );

    let creds = BTreeMap::from([(private.host(), Credentials::new("puller", "pull-pass-Y6"))]);
    let imp = importer(&az, secret_env(&az)).source_credentials(creds);
    imp.import_image(&source, "runwhen/app", "2", ImportMode::NoForce)
        .await
        .unwrap();
    let got = az
        .registry()
        .pusher()
        .get_manifest("runwhen/app", "2")
        .await
        .unwrap();
    assert_eq!(got.digest, index.digest);
    assert!(!format!("{imp:?}").contains("pull-pass-Y6"));
}

#[tokio::test]
async fn retry_after_is_honoured_and_the_overall_timeout_ends_the_wait() {
    let az = AzureStandIn::start(AzureOptions {
        retry_after: 1,
        polls_before_done: 1,
        ..AzureOptions::default()
    })
    .await;
    let up = upstream().await;
    let source = Reference::parse(&format!("{}/library/app:1.0", up.registry.host())).unwrap();
    let done = importer(&az, secret_env(&az))
        .import_image(&source, "runwhen/app", "1.0", ImportMode::NoForce)
        .await
        .unwrap();
    assert_eq!(done.polls, 2, "{done:?}");
    assert!(
        done.elapsed >= Duration::from_secs(2),
        "waited as asked: {done:?}"
    );

    let slow = AzureStandIn::start(AzureOptions {
        retry_after: 0,
        polls_before_done: 1_000_000,
        ..AzureOptions::default()
    })
    .await;
    let err = importer(&slow, secret_env(&slow))
        .timeout(Duration::from_secs(1))
        .import_image(&source, "runwhen/app", "1.0", ImportMode::NoForce)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::Timeout { .. }), "{err:?}");
    assert_eq!(ImportMode::choose(false, true), ImportMode::Force);
    assert_eq!(ImportMode::choose(false, false), ImportMode::NoForce);
}
