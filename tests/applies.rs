//! A case takes the first scenario whose `applies:` rule holds.

use relance::engine;
use relance::rules::Rules;
use relance::scenario::{Scenario, load_checked};
use relance::simulate::{opened_at, parse_case};

fn shipped() -> Vec<Scenario> {
    let rules = Rules::new();
    ["b2b-france", "b2b-spain", "b2c-france"]
        .iter()
        .map(|name| {
            let file = format!("scenarios/{name}.yaml");
            let text = std::fs::read_to_string(&file).unwrap();
            load_checked(&rules, &file, &text, None)
                .scenario
                .unwrap_or_else(|| panic!("{file} loads"))
        })
        .collect()
}

fn chosen(case_file: &str, scenarios: &[Scenario]) -> Option<String> {
    let text = std::fs::read_to_string(case_file).unwrap();
    let case = parse_case(case_file, &text).unwrap();
    engine::shared()
        .choose(scenarios, &case.case, opened_at(&case))
        .unwrap()
        .map(|s| s.name.clone())
}

#[test]
fn each_example_case_picks_the_scenario_written_for_it() {
    let all = shipped();
    assert_eq!(
        chosen("examples/case-fr-company.yaml", &all).as_deref(),
        Some("b2b-france")
    );
    assert_eq!(
        chosen("examples/case-fr-person.yaml", &all).as_deref(),
        Some("b2c-france")
    );
    assert_eq!(
        chosen("examples/case-es-company.yaml", &all).as_deref(),
        Some("b2b-spain")
    );
}

#[test]
fn the_first_matching_scenario_wins_and_none_may_match() {
    let all = shipped();
    let spain_only: Vec<Scenario> = all
        .iter()
        .filter(|s| s.name == "b2b-spain")
        .cloned()
        .collect();
    assert_eq!(chosen("examples/case-fr-company.yaml", &spain_only), None);

    let mut reversed = all;
    reversed.reverse();
    assert_eq!(
        chosen("examples/case-es-company.yaml", &reversed).as_deref(),
        Some("b2b-spain"),
        "order does not matter when exactly one rule holds"
    );
}
