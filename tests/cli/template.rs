//! Business templates from a file at `tenant create`, through the real binary: the file's own locale
//! is the tenant's unless `--locale` says otherwise.

use crate::support::{token, unique_slug};
use crate::tenant::{BOT_A, BOT_B, Fixture};

/// Creates a tenant from a template file written in English, with `extra` arguments; its locale as
/// the control plane and the tenant's own settings record it.
fn create_from_english_file(f: &Fixture, bot: i64, extra: &[&str]) -> (String, String) {
    let file = f.sandbox.path().join("my_shop.yaml");
    std::fs::write(&file, include_str!("../../templates/business/barbershop.en.yaml")).unwrap();
    let slug = unique_slug();
    f.botctl()
        .args(["tenant", "create", "--no-start", &slug, "--token", &token(bot), "--admin", "1001"])
        .args(["--template", file.to_str().unwrap()])
        .args(extra)
        .assert()
        .success();
    let control: String = f.scalar(&format!("SELECT locale FROM botctl.tenants WHERE slug = '{slug}'"));
    let settings: String = f.scalar(&format!("SELECT locale FROM tenant_{slug}.settings"));
    (control, settings)
}

#[test]
fn a_template_files_locale_is_the_tenants_unless_locale_is_given() {
    let f = Fixture::new();
    // The configured default is Russian; the file says `locale: en`.
    assert_eq!(create_from_english_file(&f, BOT_A, &[]), ("en".to_string(), "en".to_string()));
    assert_eq!(create_from_english_file(&f, BOT_B, &["--locale", "ru"]), ("ru".to_string(), "ru".to_string()));
}
