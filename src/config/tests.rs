use std::path::Path;

use super::*;

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn flag<T>(value: T, flag: &str) -> Option<Given<T>> {
    Some(Given { value, origin: Origin::Flag(flag.into()) })
}

fn entry<'a>(settings: &'a Settings, key: &str) -> &'a Entry {
    settings.entries().iter().find(|e| e.key == key).unwrap()
}

fn with_file(path: PathBuf) -> Overrides {
    Overrides { config: flag(path, "--config"), ..Overrides::default() }
}

#[test]
fn defaults_apply_with_nothing_configured() {
    let env = Env::from_pairs([("HOME", "/home/op")]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!(settings.output, OutputFormat::Table);
    assert_eq!(settings.telegram.api_url.as_str(), "https://api.telegram.org/");
    assert_eq!(entry(&settings, "output").source, Origin::Default);
}

#[test]
fn file_beats_defaults_and_env_beats_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "telegram:\n  api_url: http://file.example/\ndocker:\n  image: from-file:1\n");
    let env = Env::from_pairs([("BOTCTL_TELEGRAM_API_URL", "http://env.example/")]);
    let settings = Settings::load(with_file(path.clone()), &env).unwrap();
    assert_eq!(settings.telegram.api_url.as_str(), "http://env.example/");
    assert_eq!(entry(&settings, "telegram.api_url").source, Origin::Env("BOTCTL_TELEGRAM_API_URL".into()));
    assert_eq!(settings.docker.image, "from-file:1");
    assert_eq!(entry(&settings, "docker.image").source, Origin::File(path));
}

#[test]
fn flags_beat_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "output: yaml\n");
    let overrides = Overrides { output: flag(OutputFormat::Json, "-o"), ..with_file(path) };
    let settings = Settings::load(overrides, &Env::default()).unwrap();
    assert_eq!(settings.output, OutputFormat::Json);
    assert_eq!(entry(&settings, "output").source, Origin::Flag("-o".into()));
}

#[test]
fn config_file_is_found_under_xdg_config_home() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("botctl")).unwrap();
    std::fs::write(dir.path().join("botctl/config.yaml"), "output: yaml\n").unwrap();
    let env = Env::from_pairs([("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!(settings.output, OutputFormat::Yaml);
    assert_eq!(settings.config_file, Some(dir.path().join("botctl/config.yaml")));
}

#[test]
fn explicit_config_file_must_exist() {
    let err = Settings::load(with_file("/nonexistent/botctl.yaml".into()), &Env::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { .. }), "{err}");
}

#[test]
fn parse_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "outptu: json\n");
    let err = Settings::load(with_file(path.clone()), &Env::default()).unwrap_err();
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let env = Env::from_pairs([("BOTCTL_DATABASE_CONNECT_TIMEOUT", "forever")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("BOTCTL_DATABASE_CONNECT_TIMEOUT"), "{err}");
    assert!(err.contains("forever"), "{err}");
}

#[test]
fn database_url_from_the_file_is_redacted_in_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "database:\n  url: postgres://op:hunter2@db/botctl\n");
    let settings = Settings::load(with_file(path), &Env::default()).unwrap();
    let shown = &entry(&settings, "database.url").value;
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(settings.entries().iter().all(|e| !e.value.contains("hunter2")));
}

#[test]
fn invalid_database_url_in_the_file_is_an_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "database:\n  url: mysql://op:hunter2@db/botctl\n");
    let err = Settings::load(with_file(path), &Env::default()).unwrap_err();
    let text = format!("{err} {}", std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default());
    assert!(text.contains("unsupported scheme"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn no_color_turns_color_off_by_default_but_not_over_a_flag() {
    let env = Env::from_pairs([("NO_COLOR", "1")]);
    assert_eq!(Settings::load(Overrides::default(), &env).unwrap().color, ColorChoice::Never);
    let overrides = Overrides { color: flag(ColorChoice::Always, "--color"), ..Overrides::default() };
    assert_eq!(Settings::load(overrides, &env).unwrap().color, ColorChoice::Always);
}

#[test]
fn no_color_is_reported_as_the_origin_and_the_file_overrides_it() {
    let env = Env::from_pairs([("NO_COLOR", "1")]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!(entry(&settings, "color").source, Origin::Env("NO_COLOR".into()));
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "color: always\n");
    assert_eq!(Settings::load(with_file(path), &env).unwrap().color, ColorChoice::Always);
}

#[test]
fn docker_host_falls_back_to_docker_host_variable() {
    let env = Env::from_pairs([("DOCKER_HOST", "tcp://127.0.0.1:2375")]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!(settings.docker.host, "tcp://127.0.0.1:2375");
    assert_eq!(entry(&settings, "docker.host").source, Origin::Env("DOCKER_HOST".into()));
    let env =
        Env::from_pairs([("DOCKER_HOST", "tcp://127.0.0.1:2375"), ("BOTCTL_DOCKER_HOST", "unix:///run/docker.sock")]);
    assert_eq!(Settings::load(Overrides::default(), &env).unwrap().docker.host, "unix:///run/docker.sock");
}

#[test]
fn data_dir_follows_xdg_data_home() {
    let env = Env::from_pairs([("XDG_DATA_HOME", "/srv/data")]);
    assert_eq!(Settings::load(Overrides::default(), &env).unwrap().data_dir, PathBuf::from("/srv/data/botctl"));
}

#[test]
fn env_var_names_follow_the_key() {
    assert_eq!(env_var_for("telegram.api_url"), "BOTCTL_TELEGRAM_API_URL");
    assert_eq!(env_var_for("log"), "BOTCTL_LOG");
}

#[test]
fn rate_limits_are_on_unless_turned_off_in_words_the_flags_accept() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    assert!(settings.telegram.rate_limits);
    for off in ["0", "false", "No", "off"] {
        let env = Env::from_pairs([("BOTCTL_TELEGRAM_RATE_LIMITS", off)]);
        assert!(!Settings::load(Overrides::default(), &env).unwrap().telegram.rate_limits, "{off}");
    }
    let env = Env::from_pairs([("BOTCTL_TELEGRAM_RATE_LIMITS", "sometimes")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("BOTCTL_TELEGRAM_RATE_LIMITS") && err.contains("sometimes"), "{err}");
}

#[test]
fn runtime_settings_default_and_are_held_to_one_rule_from_the_file_and_the_environment() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    assert_eq!((settings.runtime.network.as_str(), settings.runtime.memory_mb), ("host", 128));
    assert_eq!(settings.runtime.health_timeout, Duration::from_secs(60));
    assert!(settings.runtime.database_host.is_none());

    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "runtime:\n  memory_mb: 4\n");
    let err = Settings::load(with_file(path), &Env::default()).unwrap_err().to_string();
    assert!(err.contains("runtime.memory_mb") && err.contains("from 16 to 1048576"), "{err}");
    let env = Env::from_pairs([("BOTCTL_RUNTIME_NETWORK", "bad net"), ("BOTCTL_RUNTIME_CPUS", "2")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("BOTCTL_RUNTIME_NETWORK"), "{err}");
    let env = Env::from_pairs([("BOTCTL_RUNTIME_NETWORK", "botctl_net"), ("BOTCTL_RUNTIME_CPUS", "0.5")]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!((settings.runtime.network.as_str(), settings.runtime.cpus), ("botctl_net", 0.5));
}

#[test]
fn runtime_mode_and_placement_come_from_the_file_or_the_environment_and_bad_ones_name_their_key() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    assert_eq!(settings.runtime.mode, crate::runtime::Mode::Containers);
    assert!(settings.runtime.placement.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let text = "runtime:\n  mode: swarm\n  placement:\n    - node.labels.botctl==yes\n    - node.role != manager\n";
    let path = write_config(dir.path(), text);
    let settings = Settings::load(with_file(path.clone()), &Env::default()).unwrap();
    assert_eq!(settings.runtime.mode, crate::runtime::Mode::Swarm);
    assert_eq!(settings.runtime.placement, ["node.labels.botctl==yes", "node.role != manager"]);
    assert_eq!(entry(&settings, "runtime.placement").value, "node.labels.botctl==yes, node.role != manager");
    assert_eq!(entry(&settings, "runtime.mode").source, Origin::File(path.clone()));

    let env =
        Env::from_pairs([("BOTCTL_RUNTIME_MODE", "containers"), ("BOTCTL_RUNTIME_PLACEMENT", "node.hostname==a")]);
    let settings = Settings::load(with_file(path), &env).unwrap();
    assert_eq!(settings.runtime.mode, crate::runtime::Mode::Containers);
    assert_eq!(settings.runtime.placement, ["node.hostname==a"]);

    for (var, bad) in [("BOTCTL_RUNTIME_MODE", "kubernetes"), ("BOTCTL_RUNTIME_PLACEMENT", "node.labels.botctl")] {
        let err = Settings::load(Overrides::default(), &Env::from_pairs([(var, bad)])).unwrap_err().to_string();
        assert!(err.contains(var) && err.contains(bad), "{err}");
    }
    for bad in ["yes", "==yes", "node label==yes", "a==b==c", "node.role=="] {
        let path = write_config(dir.path(), &format!("runtime:\n  placement: [\"{bad}\"]\n"));
        let err = format!("{:#}", anyhow::Error::from(Settings::load(with_file(path), &Env::default()).unwrap_err()));
        assert!(err.contains("runtime.placement") && err.contains("KEY==VALUE"), "{err}");
    }
}

#[test]
fn health_interval_defaults_to_minutes_and_is_bounded_from_the_file_and_the_environment() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    assert_eq!(settings.runtime.health_interval, Duration::from_secs(600));
    assert_eq!(entry(&settings, "runtime.health_interval").value, "10m");

    let env = Env::from_pairs([("BOTCTL_RUNTIME_HEALTH_INTERVAL", "30s")]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!(settings.runtime.health_interval, Duration::from_secs(30));
    assert_eq!(
        entry(&settings, "runtime.health_interval").source,
        Origin::Env("BOTCTL_RUNTIME_HEALTH_INTERVAL".into())
    );
    for bad in ["500ms", "2days", "often"] {
        let env = Env::from_pairs([("BOTCTL_RUNTIME_HEALTH_INTERVAL", bad)]);
        let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
        assert!(err.contains("BOTCTL_RUNTIME_HEALTH_INTERVAL") && err.contains(bad), "{err}");
    }

    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "runtime:\n  health_interval: 2m 30s\n");
    assert_eq!(
        Settings::load(with_file(path), &Env::default()).unwrap().runtime.health_interval,
        Duration::from_secs(150)
    );
    let path = write_config(dir.path(), "runtime:\n  health_interval: 0s\n");
    let err = Settings::load(with_file(path), &Env::default()).unwrap_err().to_string();
    assert!(err.contains("runtime.health_interval") && err.contains("from 1s to 24h"), "{err}");
}

#[test]
fn billing_periods_default_to_a_week_of_trial_and_three_days_of_grace_in_whole_days() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    assert_eq!(settings.billing.trial, Duration::from_secs(7 * 86_400));
    assert_eq!(settings.billing.grace, Duration::from_secs(3 * 86_400));

    let env = Env::from_pairs([("BOTCTL_BILLING_TRIAL", "14days"), ("BOTCTL_BILLING_GRACE", "0s")]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!((settings.billing.trial, settings.billing.grace), (Duration::from_secs(14 * 86_400), Duration::ZERO));

    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "billing:\n  grace: 36h\n");
    let err = Settings::load(with_file(path), &Env::default()).unwrap_err().to_string();
    assert!(err.contains("billing.grace") && err.contains("whole days"), "{err}");
}

const OPERATOR_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

#[test]
fn the_operator_bot_is_off_and_alerts_have_their_defaults_with_nothing_configured() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    assert!(settings.platform.operator_bot.token.is_none());
    assert!(settings.platform.operator_bot.operators.is_empty());
    assert_eq!(settings.platform.alerts.remind_after, Duration::from_secs(6 * 3600));
    assert_eq!(settings.platform.alerts.unhealthy_after, Duration::from_secs(300));
    assert_eq!(entry(&settings, "platform.operator_bot.token").value, "(not set: the operator bot is off)");
}

#[test]
fn operator_bot_token_and_operators_from_the_file_never_show_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "platform:\n  operator_bot:\n    token: \"{OPERATOR_TOKEN}\"\n  operators:\n    - {{ id: 1001, role: owner }}\n    - {{ id: 1002, role: viewer }}\n"
    );
    let path = write_config(dir.path(), &text);
    let settings = Settings::load(with_file(path), &Env::default()).unwrap();
    let bot = &settings.platform.operator_bot;
    assert_eq!(bot.token.as_ref().unwrap().expose(), OPERATOR_TOKEN);
    assert_eq!(
        bot.operators,
        vec![Operator { id: 1001, role: OperatorRole::Owner }, Operator { id: 1002, role: OperatorRole::Viewer }]
    );
    assert_eq!(entry(&settings, "platform.operators").value, "1001 owner, 1002 viewer");
    let secret = OPERATOR_TOKEN.split_once(':').unwrap().1;
    assert!(!format!("{settings:?}").contains(secret));
    assert!(settings.entries().iter().all(|e| !e.value.contains(secret)));
}

#[test]
fn operator_bot_token_file_is_trimmed_and_its_shape_checked_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("operator.token");
    std::fs::write(&token_file, format!("  {OPERATOR_TOKEN}\n")).unwrap();
    let env = Env::from_pairs([
        ("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN_FILE", token_file.to_str().unwrap()),
        ("BOTCTL_PLATFORM_OPERATORS", "1001:owner, 1002:viewer"),
    ]);
    let settings = Settings::load(Overrides::default(), &env).unwrap();
    assert_eq!(settings.platform.operator_bot.token.unwrap().expose(), OPERATOR_TOKEN);
    assert_eq!(settings.platform.operator_bot.operators.len(), 2);

    std::fs::write(&token_file, "123456789:not a token at all\n").unwrap();
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("platform.operator_bot.token_file"), "{err}");
    assert!(!err.contains("not a token"), "{err}");
    std::fs::write(&token_file, "\n").unwrap();
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("is empty"), "{err}");
}

#[test]
fn operator_bot_token_and_token_file_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "platform:\n  operator_bot:\n    token: \"{OPERATOR_TOKEN}\"\n    token_file: /run/secrets/op\n  operators:\n    - {{ id: 1, role: owner }}\n"
    );
    let err = Settings::load(with_file(write_config(dir.path(), &text)), &Env::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Setting { key: "platform.operator_bot", .. }), "{err}");
}

#[test]
fn the_sales_bot_is_off_with_nothing_configured_and_on_with_its_settings() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    let sales = &settings.platform.sales_bot;
    assert!(sales.token.is_none() && sales.support.is_none() && sales.demo_bot.is_none());
    assert!(!sales.managed_bots && !sales.stars);
    assert_eq!(entry(&settings, "platform.sales_bot.token").value, "(not set: the sales bot is off)");

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "platform:\n  sales_bot:\n    token: \"{OPERATOR_TOKEN}\"\n    support: \"@help_desk\"\n    demo_bot: \"@demo_salon_bot\"\n    managed_bots: true\n    stars: true\n"
    );
    let settings = Settings::load(with_file(write_config(dir.path(), &text)), &Env::default()).unwrap();
    let sales = &settings.platform.sales_bot;
    assert_eq!(sales.token.as_ref().unwrap().expose(), OPERATOR_TOKEN);
    assert_eq!((sales.support.as_deref(), sales.demo_bot.as_deref()), (Some("@help_desk"), Some("@demo_salon_bot")));
    assert!(sales.managed_bots && sales.stars);
    let secret = OPERATOR_TOKEN.split_once(':').unwrap().1;
    assert!(settings.entries().iter().all(|e| !e.value.contains(secret)));

    let env = Env::from_pairs([("BOTCTL_PLATFORM_SALES_BOT_STARS", "off")]);
    let settings = Settings::load(with_file(write_config(dir.path(), &text)), &env).unwrap();
    assert!(!settings.platform.sales_bot.stars);
}

#[test]
fn the_sales_bot_refuses_a_bad_demo_bot_two_tokens_and_a_multiline_contact() {
    let env = Env::from_pairs([("BOTCTL_PLATFORM_SALES_BOT_DEMO_BOT", "demo")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("@username or an http(s) link"), "{err}");
    let env = Env::from_pairs([("BOTCTL_PLATFORM_SALES_BOT_SUPPORT", "a\nb")]);
    assert!(Settings::load(Overrides::default(), &env).is_err());
    let env = Env::from_pairs([
        ("BOTCTL_PLATFORM_SALES_BOT_TOKEN", OPERATOR_TOKEN),
        ("BOTCTL_PLATFORM_SALES_BOT_TOKEN_FILE", "/run/secrets/sales"),
    ]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err();
    assert!(matches!(err, ConfigError::Setting { key: "platform.sales_bot", .. }), "{err}");
    assert!(!err.to_string().contains(OPERATOR_TOKEN), "{err}");
}

#[test]
fn a_token_with_nobody_to_use_the_bot_is_a_config_error() {
    let env = Env::from_pairs([("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN", OPERATOR_TOKEN)]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("nobody could use the operator bot"), "{err}");
    assert!(!err.contains(OPERATOR_TOKEN), "{err}");
}

#[test]
fn a_malformed_token_is_refused_without_echoing_it() {
    let env = Env::from_pairs([("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN", "123456789:tooshortsecret")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN"), "{err}");
    assert!(!err.contains("tooshortsecret"), "{err}");
}

#[test]
fn operators_with_a_duplicate_a_bad_role_or_a_bad_id_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    for (entries, expected) in [
        ("    - { id: 7, role: owner }\n    - { id: 7, role: viewer }\n", "entry 2 (id 7): this id is listed twice"),
        ("    - { id: 7, role: owner }\n    - { id: 8, role: admin }\n", "entry 2 (id 8): role `admin`"),
        ("    - { id: -5, role: owner }\n", "entry 1 (id -5): a Telegram user id is a positive integer"),
    ] {
        let path = write_config(dir.path(), &format!("platform:\n  operators:\n{entries}"));
        let err = Settings::load(with_file(path), &Env::default()).unwrap_err();
        assert!(matches!(err, ConfigError::FileValue { key: "platform.operators", .. }), "{err}");
        let text = format!("{err}");
        assert!(text.contains(expected), "{text}");
    }
    let env = Env::from_pairs([("BOTCTL_PLATFORM_OPERATORS", "7:owner,7:viewer")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("BOTCTL_PLATFORM_OPERATORS") && err.contains("listed twice"), "{err}");
    let env = Env::from_pairs([("BOTCTL_PLATFORM_OPERATORS", "seven:owner")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("not a Telegram user id"), "{err}");
}

#[test]
fn alert_timing_is_set_and_bounded_from_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "platform:\n  alerts:\n    remind_after: 12h\n    unhealthy_after: 0s\n");
    let settings = Settings::load(with_file(path.clone()), &Env::default()).unwrap();
    assert_eq!(settings.platform.alerts.remind_after, Duration::from_secs(12 * 3600));
    assert_eq!(settings.platform.alerts.unhealthy_after, Duration::ZERO);
    let env = Env::from_pairs([("BOTCTL_PLATFORM_ALERTS_UNHEALTHY_AFTER", "2m")]);
    let settings = Settings::load(with_file(path), &env).unwrap();
    assert_eq!(settings.platform.alerts.unhealthy_after, Duration::from_secs(120));

    let path = write_config(dir.path(), "platform:\n  alerts:\n    remind_after: 10s\n");
    let err = Settings::load(with_file(path), &Env::default()).unwrap_err().to_string();
    assert!(err.contains("platform.alerts.remind_after") && err.contains("`10s`"), "{err}");
    let env = Env::from_pairs([("BOTCTL_PLATFORM_ALERTS_UNHEALTHY_AFTER", "3days")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("BOTCTL_PLATFORM_ALERTS_UNHEALTHY_AFTER"), "{err}");
}

const YOOKASSA_KEY: &str = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0";

#[test]
fn yookassa_is_off_without_a_shop_and_its_defaults_are_yookassas() {
    let settings = Settings::load(Overrides::default(), &Env::default()).unwrap();
    assert!(settings.billing.yookassa.is_none());
    assert_eq!(entry(&settings, "billing.yookassa.api_url").value, "https://api.yookassa.ru/v3/");
    assert!(entry(&settings, "billing.yookassa.allowed_networks").value.starts_with("185.71.76.0/27, "));
    assert_eq!(entry(&settings, "billing.yookassa.trusted_proxies").value, "(none)");

    let env = Env::from_pairs([
        ("BOTCTL_BILLING_YOOKASSA_SHOP_ID", "506751"),
        ("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", YOOKASSA_KEY),
        ("BOTCTL_BILLING_YOOKASSA_RETURN_URL", "https://t.me/sales_bot"),
    ]);
    let shop = Settings::load(Overrides::default(), &env).unwrap().billing.yookassa.unwrap();
    assert_eq!(shop.api_url.as_str(), "https://api.yookassa.ru/v3/");
    assert_eq!(shop.allowed_networks, crate::payments::yookassa::yookassa_networks());
    assert!(shop.trusted_proxies.is_empty() && shop.listen.is_none() && shop.receipt.is_none());
    assert_eq!(shop.secret_key.expose(), YOOKASSA_KEY);
}

#[test]
fn the_yookassa_secret_key_comes_from_a_file_or_the_environment_and_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("yookassa.key");
    std::fs::write(&key_file, format!("{YOOKASSA_KEY}\n")).unwrap();
    let text = format!(
        "billing:\n  yookassa:\n    shop_id: \"506751\"\n    secret_key_file: {}\n    return_url: https://t.me/sales_bot\n    \
         listen: 0.0.0.0:8443\n    allowed_networks: [185.71.76.0/27, 77.75.156.11]\n    trusted_proxies: [10.0.0.0/8]\n",
        key_file.display()
    );
    let path = write_config(dir.path(), &text);
    let settings = Settings::load(with_file(path.clone()), &Env::default()).unwrap();
    let shop = settings.billing.yookassa.as_ref().unwrap();
    assert_eq!(shop.shop_id, "506751");
    assert_eq!(shop.secret_key.expose(), YOOKASSA_KEY);
    assert_eq!(shop.listen, Some("0.0.0.0:8443".parse().unwrap()));
    assert_eq!(entry(&settings, "billing.yookassa.allowed_networks").value, "185.71.76.0/27, 77.75.156.11/32");
    assert_eq!(shop.trusted_proxies.len(), 1);
    assert!(!format!("{settings:?}").contains(YOOKASSA_KEY));
    assert!(settings.entries().iter().all(|e| !e.value.contains(YOOKASSA_KEY)));

    // Both ways at once is a mistake; so is the key written into the config file itself.
    let env = Env::from_pairs([("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", YOOKASSA_KEY)]);
    let err = Settings::load(with_file(path), &env).unwrap_err().to_string();
    assert!(err.contains("not both") && !err.contains(YOOKASSA_KEY), "{err}");
    let inline = write_config(
        dir.path(),
        &format!("billing:\n  yookassa:\n    shop_id: \"1\"\n    secret_key: {YOOKASSA_KEY}\n"),
    );
    let err = Settings::load(with_file(inline), &Env::default()).unwrap_err().to_string();
    assert!(err.contains("secret_key_file") && !err.contains(YOOKASSA_KEY), "{err}");
}

#[test]
fn a_yookassa_shop_needs_its_key_and_a_return_url() {
    let env = Env::from_pairs([("BOTCTL_BILLING_YOOKASSA_SHOP_ID", "506751")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("no secret key"), "{err}");
    let env = Env::from_pairs([
        ("BOTCTL_BILLING_YOOKASSA_SHOP_ID", "506751"),
        ("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", YOOKASSA_KEY),
    ]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("billing.yookassa.return_url"), "{err}");
    let env = Env::from_pairs([("BOTCTL_BILLING_YOOKASSA_ALLOWED_NETWORKS", "185.71.76.0/27, yookassa.ru")]);
    let err = Settings::load(Overrides::default(), &env).unwrap_err().to_string();
    assert!(err.contains("BOTCTL_BILLING_YOOKASSA_ALLOWED_NETWORKS") && err.contains("`yookassa.ru`"), "{err}");
}

#[test]
fn a_receipt_needs_somewhere_to_go_and_a_vat_code() {
    let shop = [
        ("BOTCTL_BILLING_YOOKASSA_SHOP_ID", "506751"),
        ("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", YOOKASSA_KEY),
        ("BOTCTL_BILLING_YOOKASSA_RETURN_URL", "https://t.me/sales_bot"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        Settings::load(Overrides::default(), &Env::from_pairs(shop.iter().chain(extra).copied()))
    };
    let receipt = with(&[
        ("BOTCTL_BILLING_YOOKASSA_RECEIPT_EMAIL", "receipts@example.com"),
        ("BOTCTL_BILLING_YOOKASSA_RECEIPT_VAT_CODE", "1"),
        ("BOTCTL_BILLING_YOOKASSA_RECEIPT_TAX_SYSTEM_CODE", "2"),
    ])
    .unwrap()
    .billing
    .yookassa
    .unwrap()
    .receipt
    .unwrap();
    assert_eq!(receipt.vat_code, crate::payments::yookassa::VatCode::NO_VAT);
    assert_eq!(receipt.tax_system_code, Some(2));
    assert_eq!(receipt.customer.email.as_deref(), Some("receipts@example.com"));
    assert_eq!(receipt.description, crate::payments::yookassa::DEFAULT_RECEIPT_DESCRIPTION);

    let err = with(&[("BOTCTL_BILLING_YOOKASSA_RECEIPT_VAT_CODE", "1")]).unwrap_err().to_string();
    assert!(err.contains("receipt.email"), "{err}");
    let err = with(&[("BOTCTL_BILLING_YOOKASSA_RECEIPT_PHONE", "79001234567")]).unwrap_err().to_string();
    assert!(err.contains("vat_code"), "{err}");
    let err = with(&[("BOTCTL_BILLING_YOOKASSA_RECEIPT_VAT_CODE", "9")]).unwrap_err().to_string();
    assert!(err.contains("1 to 6"), "{err}");
    let err = with(&[("BOTCTL_BILLING_YOOKASSA_RECEIPT_PHONE", "+7 900")]).unwrap_err().to_string();
    assert!(err.contains("not a phone"), "{err}");
}
