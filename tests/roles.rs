//! Every `/api/v1` endpoint walked with every role, with a token of
//! another client, and with no token: the answers follow the role ×
//! permission table of `relance::api::auth` (`Role::allows`), and another
//! client's resources do not exist for a token that cannot reach them.

mod rest;
mod support;

use relance::api::auth::{Permission, ROLES, Role};
use rest::{Api, seg};

/// One endpoint: method, path, body, the permission it needs, and whether
/// it concerns a resource of client `acme` (then another client's token
/// gets 404) or no client in particular.
struct Endpoint {
    method: &'static str,
    path: String,
    body: String,
    needs: Permission,
    of_acme: bool,
}

#[rustfmt::skip]
fn endpoints(version: &str, scenario_text: &str) -> Vec<Endpoint> {
    use Permission::*;
    let case = format!("/api/v1/cases/{}", seg("acme/D-1"));
    let instance = format!("/api/v1/instances/{}", seg("acme/D-1"));
    let debtor = r#"{"kind": "company", "name": "Debtor D-1 SARL", "country": "FR", "email": "compta@d-1.example"}"#;
    let invoice = r#"{"invoices": [{"client_id": "acme", "debtor_id": "D-1", "number": "INV-1",
        "issued": "2026-10-22", "due": "2026-11-21", "amount": "1200.00", "currency": "EUR"}]}"#;
    let e = |method, path: &str, body: &str, needs, of_acme| Endpoint {
        method,
        path: path.to_string(),
        body: body.to_string(),
        needs,
        of_acme,
    };
    vec![
        e("GET", "/api/v1/clients", "", ReadCases, false),
        e("POST", "/api/v1/clients", r#"{"id": "acme", "name": "Acme"}"#, ManageClients, true),
        e("GET", "/api/v1/clients/acme", "", ReadCases, true),
        e("PUT", "/api/v1/clients/acme", r#"{"name": "Client acme", "country": "FR"}"#, ManageClients, true),
        e("GET", "/api/v1/clients/acme/debtors", "", ReadPersonal, true),
        e("POST", "/api/v1/clients/acme/debtors", &debtor.replacen('{', r#"{"id": "D-1", "#, 1), WriteLedger, true),
        e("GET", "/api/v1/clients/acme/debtors/D-1", "", ReadPersonal, true),
        e("PUT", "/api/v1/clients/acme/debtors/D-1", debtor, WriteLedger, true),
        e("POST", "/api/v1/invoices", invoice, WriteLedger, true),
        e("GET", "/api/v1/clients/acme/invoices/INV-1", "", ReadCases, true),
        e("PUT", "/api/v1/clients/acme/invoices/INV-1", r#"{"due": "2026-11-21"}"#, WriteLedger, true),
        e("POST", "/api/v1/clients/acme/invoices/INV-1/credit-notes", r#"{"amount": "1.00"}"#, WriteLedger, true),
        e("POST", "/api/v1/clients/acme/invoices/INV-2/cancel", "", WriteLedger, true),
        e("GET", "/api/v1/cases", "", ReadCases, false),
        e("GET", &case, "", ReadCases, true),
        e("POST", &format!("{case}/payments"), r#"{"amount": "1.00"}"#, WriteLedger, true),
        e("GET", &format!("{case}/payments"), "", ReadCases, true),
        e("POST", &format!("{case}/disputes"), r#"{"reason": "late delivery"}"#, WriteLedger, true),
        e("POST", &format!("{case}/disputes/resolve"), "", WriteLedger, true),
        e("GET", &format!("{case}/disputes"), "", ReadCases, true),
        e("POST", &format!("{case}/promises"), r#"{"date": "2026-12-20"}"#, WriteLedger, true),
        e(
            "POST",
            &format!("{case}/plans"),
            r#"{"instalments": [{"date": "2027-01-10", "amount": "600.00"}]}"#,
            WriteLedger,
            true,
        ),
        e("GET", "/api/v1/instances", "", ReadCases, false),
        e("GET", &instance, "", ReadCases, true),
        e("POST", &format!("{instance}/pause"), "", Operate, true),
        e("POST", &format!("{instance}/resume"), "", Operate, true),
        e("POST", &format!("{instance}/skip"), "", Operate, true),
        e("POST", &format!("{instance}/close"), r#"{"outcome": "settled"}"#, Operate, true),
        e("POST", &format!("{instance}/retry"), "", Operate, true),
        e(
            "POST",
            &format!("{instance}/migrate"),
            &format!(r#"{{"to_version": "{version}"}}"#),
            Operate,
            true,
        ),
        e(
            "POST",
            "/api/v1/events",
            r#"{"type": "dispute.opened", "client_id": "acme", "case_id": "acme/D-1", "reason": "late"}"#,
            PostEvents,
            true,
        ),
        e("GET", "/api/v1/audit", "", ReadAudit, false),
        e("GET", "/api/v1/scenarios", "", ReadScenarios, false),
        e("POST", "/api/v1/scenarios", scenario_text, WriteScenarios, false),
        e(
            "GET",
            &format!("/api/v1/scenarios/b2b-france/versions/{version}"),
            "",
            ReadScenarios,
            false,
        ),
    ]
}

/// What a token may get: `Ok(())` or why the answer is wrong.
fn judge(role: Role, own: bool, e: &Endpoint, status: u16) -> Result<(), String> {
    let allowed = role.allows(e.needs);
    let fine = match (allowed, own || !e.of_acme) {
        (false, _) => status == 403,
        // Allowed on its own client's resource: anything but a refusal.
        (true, true) => (200..500).contains(&status) && ![401, 403, 404].contains(&status),
        // Allowed, but the resource is another client's: it does not exist.
        (true, false) => status == 404,
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{} {} as {} of {}: {status} (needs {:?}, allowed: {allowed})",
            e.method,
            e.path,
            role.name(),
            if own { "acme" } else { "globex" },
            e.needs
        ))
    }
}

#[tokio::test]
async fn every_endpoint_answers_every_role_as_the_permission_table_says() {
    let api = Api::start("roles_walk").await;
    api.seed().await;
    api.seed_invoice("acme", "D-1", "INV-2", "10.00").await;
    api.seed_client("globex", "ES").await;
    let version = api
        .store
        .scenario_versions()
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.name == "b2b-france")
        .unwrap()
        .version;
    let text = std::fs::read_to_string(rest::root().join("scenarios/b2b-france.yaml")).unwrap();
    let table = endpoints(&version, &text);

    let mut wrong = Vec::new();
    for e in &table {
        let r = api.call(e.method, &e.path, None, &e.body).await;
        if r.status != 401 {
            wrong.push(format!(
                "{} {} without a token: {}",
                e.method, e.path, r.status
            ));
        }
    }
    for role in ROLES {
        let own = api.token(role, &["acme"]).await;
        let other = api.token(role, &["globex"]).await;
        for e in &table {
            for (token, is_own) in [(&own, true), (&other, false)] {
                let r = api.call(e.method, &e.path, Some(token), &e.body).await;
                if let Err(why) = judge(role, is_own, e, r.status) {
                    wrong.push(format!("{why}: {}", r.text));
                }
                if [403, 404].contains(&r.status) {
                    assert_eq!(r.content_type, "application/problem+json");
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answer(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn lists_show_another_clients_token_nothing_of_acme() {
    let api = Api::start("roles_lists").await;
    api.seed().await;
    api.seed_client("globex", "ES").await;
    let other = api.token(Role::Admin, &["globex"]).await;
    let own = api.token(Role::Viewer, &["acme"]).await;

    for path in ["/api/v1/clients", "/api/v1/cases", "/api/v1/instances"] {
        let r = api.call("GET", path, Some(&other), "").await;
        assert_eq!(r.status, 200, "{path}");
        let items = r.json["items"].as_array().unwrap();
        assert!(
            items.iter().all(|i| !i.to_string().contains("acme")),
            "{path} shows globex nothing of acme: {}",
            r.text
        );
        let r = api.call("GET", path, Some(&own), "").await;
        assert!(
            !r.json["items"].as_array().unwrap().is_empty(),
            "{path} shows acme its own"
        );
    }
    let r = api
        .call("GET", "/api/v1/cases?client_id=acme", Some(&other), "")
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 0);
}
