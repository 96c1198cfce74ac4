//! The configuration's errors: one line each, naming the problem.

use super::*;

#[test]
fn errors_are_one_line_and_name_the_problem() {
    let bad_toml = NodeConfig::parse("demo = true\n[[listen]\nkind = 1")
        .unwrap_err()
        .to_string();
    assert!(bad_toml.starts_with("line 2:"), "{}", bad_toml);
    assert!(!bad_toml.contains('\n'));
    let unknown = NodeConfig::parse("demoo = true").unwrap_err().to_string();
    assert!(unknown.contains("demoo"), "{}", unknown);
    let hash = NodeConfig::parse("[[token]]\nid = \"alice\"\nsha256 = \"xyz\"")
        .unwrap()
        .resolve(Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(hash.starts_with("token `alice`"), "{}", hash);
    let cert = NodeConfig::parse("[[listen]]\nkind = \"tls\"\naddr = \"127.0.0.1:1\"\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"")
        .unwrap()
        .resolve(Path::new("."))
        .unwrap_err().to_string();
    assert!(cert.contains("/nonexistent/c.pem"), "{}", cert);
    let decoy = NodeConfig::parse("[decoy]\nkind = \"redirect\"")
        .unwrap()
        .resolve(Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(decoy.starts_with("decoy:"), "{}", decoy);
    let import = |entry: &str| {
        NodeConfig::parse(&format!(
            "[[import.openapi]]\nnamespace = \"pets\"\n{entry}"
        ))
        .and_then(|c| c.resolve(Path::new(".")))
        .unwrap_err()
        .to_string()
    };
    let unknown = import("spec = \"x\"\nbase_url = \"http://h\"\nbase_ur = 1");
    assert!(unknown.contains("base_ur"), "{unknown}");
    let missing = import("spec = \"/nonexistent/pets.yaml\"\nbase_url = \"http://h\"");
    assert!(
        missing.starts_with("import.openapi `pets`: cannot read /nonexistent/pets.yaml"),
        "{missing}"
    );
    let dir = std::env::temp_dir().join(format!("alknet-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = dir.join("pets.json");
    std::fs::write(
        &doc,
        r#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{}}"#,
    )
    .unwrap();
    let with = |extra: &str| {
        import(&format!(
            "spec = {:?}\nbase_url = \"http://h\"\n{extra}",
            doc.display().to_string()
        ))
    };
    let auth = with("auth = \"api-key-header\"");
    assert!(auth.contains("api_key_name"), "{auth}");
    let orphan = with("credential_file = \"k\"");
    assert!(orphan.contains("needs an `auth` scheme"), "{orphan}");
    let visibility = with("visibility = \"public\"");
    assert!(visibility.contains("visibility `public`"), "{visibility}");
    let swagger = dir.join("swagger.json");
    std::fs::write(&swagger, r#"{"swagger":"2.0"}"#).unwrap();
    let refused = import(&format!(
        "spec = {:?}\nbase_url = \"http://h\"",
        swagger.display().to_string()
    ));
    assert!(refused.contains("Swagger 2.0"), "{refused}");
    std::fs::remove_dir_all(dir).unwrap();
}

const FP: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn error(text: &str) -> String {
    NodeConfig::parse(text)
        .and_then(|c| c.resolve(Path::new(".")))
        .unwrap_err()
        .to_string()
}

fn with_node(dir: &Path, peers: &str) -> String {
    format!(
        "[node]\ncert = {:?}\nkey = {:?}\ngenerate = true\n\n{peers}",
        dir.join("n.pem").display().to_string(),
        dir.join("n.key").display().to_string()
    )
}

#[test]
fn peer_entries_are_checked_one_problem_per_line() {
    let bare = format!("[[peer]]\nid = \"a\"\nfingerprint = \"{FP}\"\n");
    assert!(
        error(&bare).contains("needs this node's certificate"),
        "{}",
        error(&bare)
    );
    let dir = std::env::temp_dir().join(format!("alknet-peer-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("fingerprint = \"abc\"", "not a 64-character hex"),
        (
            &*format!("fingerprint = \"{FP}\"\nvisibility = \"public\""),
            "visibility `public`",
        ),
        (
            &*format!("fingerprint = \"{FP}\"\ndial = \"localhost\""),
            "is not host:port",
        ),
        (
            &*format!("fingerprint = \"{FP}\"\nimport = false\nprefix = \"a\""),
            "need `import = true`",
        ),
        (&*format!("fingerprint = \"{FP}\"\nscope = []"), "scope"),
    ];
    for (entry, expected) in cases {
        let message = error(&with_node(
            &dir,
            &format!("[[peer]]\nid = \"a\"\n{entry}\n"),
        ));
        assert!(message.contains(expected), "{entry}: {message}");
        assert!(!message.contains('\n'), "{message}");
    }
    let twice = format!("[[peer]]\nid = \"a\"\nfingerprint = \"{FP}\"\n");
    let message = error(&with_node(&dir, &format!("{twice}{twice}")));
    assert!(message.contains("listed twice"), "{message}");
    let slow = with_node(&dir, &bare).replace(
        "generate = true",
        "generate = true\npeer_keep_alive_ms = 5000\npeer_idle_timeout_ms = 5000",
    );
    assert!(error(&slow).contains("must be below"), "{}", error(&slow));
    let resolved = NodeConfig::parse(&with_node(
        &dir,
        &format!("[[peer]]\nid = \"a\"\nfingerprint = \"{}\"\ndial = \"127.0.0.1:9\"\nprefix = \"x\"\nvisibility = \"external\"\n", FP.to_uppercase()),
    ))
    .unwrap()
    .resolve(Path::new("."))
    .unwrap();
    let federation = resolved.federation.unwrap();
    let peer = federation.peer("a").unwrap();
    assert_eq!(peer.fingerprint, FP, "normalized");
    assert_eq!(peer.import.as_ref().unwrap().prefix.as_deref(), Some("x"));
    // The generated certificate is kept: a second resolution presents the same one.
    let again = NodeConfig::parse(&with_node(&dir, ""))
        .unwrap()
        .resolve(Path::new("."))
        .unwrap();
    assert_eq!(
        again.node_certificate.unwrap().fingerprint_sha256(),
        federation.fingerprint()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn telemetry_settings_are_checked() {
    let otlp = |extra: &str| {
        NodeConfig::parse(&format!("[telemetry]\n{extra}"))
            .unwrap()
            .telemetry
            .otlp(Path::new("."))
    };
    let message = |extra: &str| otlp(extra).unwrap_err().to_string();
    assert!(message("sampling_ratio = 0.5").contains("need `otlp_endpoint`"));
    let endpoint = "otlp_endpoint = \"http://127.0.0.1:4318\"\n";
    assert!(message(&format!("{endpoint}sampling_ratio = 2.0")).contains("between 0 and 1"));
    assert!(message(&format!("{endpoint}otlp_protocol = \"grpc\"")).contains("not supported"));
    assert!(message("otlp_endpoint = \"udp://x\"").contains("not an http(s) URL"));
    let dir = std::env::temp_dir().join(format!("alknet-otlp-headers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let headers = dir.join("h");
    std::fs::write(
        &headers,
        "# a comment\nx-api-key: secret\n\nx-tenant:  t1 \n",
    )
    .unwrap();
    let with_file = format!(
        "{endpoint}otlp_headers_file = {:?}",
        headers.display().to_string()
    );
    let export = otlp(&with_file).unwrap().unwrap();
    assert_eq!(
        export.headers,
        vec![
            ("x-api-key".to_owned(), "secret".to_owned()),
            ("x-tenant".to_owned(), "t1".to_owned())
        ]
    );
    std::fs::write(&headers, "no colon here").unwrap();
    assert!(message(&with_file).contains("line 1"));
    std::fs::write(&headers, "x: y\n".repeat(20_000)).unwrap();
    assert!(message(&with_file).contains("larger than"));
    assert!(otlp("").unwrap().is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn issuer_entries_are_checked() {
    let issuer =
        |extra: &str| format!("[[issuer]]\nissuer = \"https://login.example.com\"\n{extra}");
    let audience = "audience = [\"https://node.example\"]\n";
    assert!(error(&issuer("")).contains("missing field `audience`"));
    assert!(error(&issuer("audience = []")).contains("names no audience"));
    assert!(
        error(&issuer(&format!("{audience}algorithms = [\"HS256\"]")))
            .contains("`HS256` is not a public-key JWS algorithm")
    );
    assert!(
        error(&issuer(&format!("{audience}algorithms = [\"none\"]")))
            .contains("`none` is not a public-key")
    );
    assert!(
        error(&issuer(&format!("{audience}jwks_url = \"ftp://x\""))).contains("not an http(s) URL")
    );
    assert!(error(&issuer(&format!("{audience}refresh_s = 0"))).contains("`refresh_s` is 0"));
    let resolved = NodeConfig::parse(&issuer(&format!(
        "{audience}algorithms = [\"ES256\", \"EdDSA\"]\nscopes_claim = \"scp\"\nleeway_s = 5"
    )))
    .unwrap()
    .resolve(Path::new("."))
    .unwrap();
    let [issuer] = resolved.issuers.as_slice() else {
        panic!("one issuer: {:?}", resolved.issuers)
    };
    assert_eq!(issuer.audiences, ["https://node.example"]);
    assert_eq!(issuer.leeway, std::time::Duration::from_secs(5));
    assert_eq!(issuer.scopes_claim.as_deref(), Some("scp"));
    assert_eq!(issuer.algorithms.len(), 2);
}

#[test]
fn the_oauth_section_is_checked() {
    assert!(error("[oauth]\nresource = \"node.example\"").contains("not an http(s) URL"));
    assert!(
        error("[oauth]\nresource = \"https://node.example\"").contains("no authorization server")
    );
    let resolved = NodeConfig::parse(
        "[[issuer]]\nissuer = \"https://login.example\"\naudience = [\"https://node.example\"]\n\n\
         [oauth]\nresource = \"https://node.example\"\nscopes_supported = [\"demo:read\"]",
    )
    .unwrap()
    .resolve(Path::new("."))
    .unwrap();
    let resource = resolved.protected_resource.expect("the metadata");
    assert_eq!(resource.authorization_servers, ["https://login.example"]);
    assert_eq!(resource.endpoints, ["/mcp"]);
}

#[test]
fn rate_limit_entries_are_checked() {
    assert!(
        error("[[rate_limit]]\nper = \"caller\"\ncalls = 1")
            .contains("\"identity\", \"operation\", \"address\" or \"upgrade\"")
    );
    assert!(
        error("[[rate_limit]]\nper = \"upgrade\"\ncalls = 1\noperations = [\"demo/*\"]")
            .contains("takes no `operations` or `scope`")
    );
    assert!(error("[[rate_limit]]\nper = \"identity\"\ncalls = 0").contains("above 0"));
    assert!(
        error("[[rate_limit]]\nper = \"identity\"\ncalls = 5\nperiod_ms = 0").contains("above 0")
    );
    let resolved = NodeConfig::parse(
        "[[rate_limit]]\nper = \"operation\"\ncalls = 10\nburst = 20\noperations = [\"demo/*\"]\nscope = \"trial\"\n\n\
         [[rate_limit]]\nper = \"address\"\ncalls = 10\n\n[[rate_limit]]\nper = \"upgrade\"\ncalls = 3",
    )
    .unwrap()
    .resolve(Path::new("."))
    .unwrap();
    assert!(resolved.rate_limits.is_some());
    let none = NodeConfig::parse("")
        .unwrap()
        .resolve(Path::new("."))
        .unwrap();
    assert!(none.rate_limits.is_none());
}

#[test]
fn tokens_expire_or_are_disabled() {
    let hash = |n: u8| format!("{n:02x}").repeat(32);
    let text = format!(
        "[[token]]\nid = \"a\"\nsha256 = \"{}\"\nexpires_at = 2020-01-01T00:00:00Z\n\n\
         [[token]]\nid = \"b\"\nsha256 = \"{}\"\nexpires_at = \"2999-01-01T00:00:00+02:00\"\n\n\
         [[token]]\nid = \"c\"\nsha256 = \"{}\"\ndisabled = true\n",
        hash(1),
        hash(2),
        hash(3)
    );
    let (tokens, _) = NodeConfig::parse(&text).unwrap().credentials().unwrap();
    // The expired entry stays in the table (refused by it), the disabled one is left out.
    assert_eq!(tokens.token_count(), 2);
    let error = |entries: &str| {
        NodeConfig::parse(entries)
            .and_then(|c| c.credentials().map(drop))
            .unwrap_err()
            .to_string()
    };
    let local = error(&format!(
        "[[token]]\nid = \"d\"\nsha256 = \"{}\"\nexpires_at = 2027-01-01T00:00:00\n",
        hash(4)
    ));
    assert!(local.starts_with("token `d`: expires_at"), "{local}");
    assert!(!local.contains('\n'));
    let twice = error(&format!(
        "[[token]]\nid = \"e\"\nsha256 = \"{0}\"\ndisabled = true\n\n[[token]]\nid = \"f\"\nsha256 = \"{0}\"\n",
        hash(5)
    ));
    assert!(twice.contains("configured twice"), "{twice}");
}

#[test]
fn the_mcp_tool_mode_is_checked() {
    use alknet_http_mcp::ToolMode;
    let mcp = |table: &str| {
        NodeConfig::parse(&format!("[mcp]\n{table}"))
            .and_then(|c| c.resolve(Path::new(".")))
            .map(|r| r.mcp)
    };
    assert_eq!(mcp("").unwrap().tools, ToolMode::Auto { max_tools: 40 });
    assert_eq!(mcp("tools = \"gateway\"").unwrap().tools, ToolMode::Gateway);
    assert_eq!(mcp("tools = \"direct\"").unwrap().tools, ToolMode::Direct);
    assert_eq!(
        mcp("tools = \"auto\"\nmax_tools = 5").unwrap().tools,
        ToolMode::Auto { max_tools: 5 }
    );
    let bounded = mcp("subscription_max_items = 3\nsubscription_max_ms = 250").unwrap();
    assert_eq!(bounded.subscription_max_items, 3);
    assert_eq!(
        bounded.subscription_max_duration,
        Duration::from_millis(250)
    );
    let error = mcp("tools = \"direct\"\nmax_tools = 5")
        .unwrap_err()
        .to_string();
    assert!(error.contains("max_tools"), "{error}");
    let error = mcp("tools = \"every\"").unwrap_err().to_string();
    assert!(error.contains("every"), "{error}");
}

#[test]
fn the_bus_tables_resolve_or_say_what_is_wrong() {
    let resolve = |text: &str| {
        NodeConfig::parse(text)
            .and_then(|c| c.resolve(Path::new(".")))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let export = "[[export.nats]]\nidentity = \"bus\"\nscopes = [\"demo:read\"]\n";
    let orphan = resolve(export).unwrap_err();
    assert!(orphan.contains("[nats]"), "{orphan}");
    let tables = format!("[nats]\nservers = [\"nats://127.0.0.1:4222\"]\n\n{export}");
    if cfg!(feature = "nats") {
        resolve(&tables).unwrap();
        let both =
            resolve("[nats]\nservers = [\"nats://h:4222\"]\ntoken_file = \"t\"\nuser = \"u\"\n")
                .unwrap_err();
        assert!(both.starts_with("nats: one of"), "{both}");
        let visibility = resolve(
            "[nats]\nservers = [\"nats://h:4222\"]\n[[import.nats]]\nvisibility = \"public\"\n",
        )
        .unwrap_err();
        assert!(visibility.contains("public"), "{visibility}");
        let directory =
            "[nats]\nservers = [\"nats://h:4222\"]\n[nats.directory]\ncluster = \"edge\"\n";
        resolve(directory).unwrap();
        let still = resolve(&format!("{directory}announce_interval_ms = 0\n")).unwrap_err();
        assert!(still.contains("announce_interval_ms"), "{still}");
        let unknown = resolve(&format!("{directory}clustre = \"x\"\n")).unwrap_err();
        assert!(unknown.contains("clustre"), "{unknown}");
    } else {
        let refused = resolve(&tables).unwrap_err();
        assert!(refused.contains("feature `nats`"), "{refused}");
    }
}
