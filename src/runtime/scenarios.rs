//! The scenarios a runtime knows: the current versions from the scenario
//! folder, and every older version a running instance may still be on,
//! compiled from the text kept in the database.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::rules::Rules;
use crate::scenario::{self, Diagnostic, Scenario, TemplateLookup};
use crate::store::Store;

use super::RuntimeError;

/// Compiled scenario versions, shared by the scheduler and the tools.
pub struct ScenarioSet {
    rules: Rules,
    /// The versions on disk, in file-name order: new cases choose among them.
    current: Vec<Arc<Scenario>>,
    by_version: RwLock<BTreeMap<(String, String), Arc<Scenario>>>,
}

impl ScenarioSet {
    /// Loads every scenario below `dir`, checks it (against `templates`
    /// when given) and stores its text in the database. Any error stops the
    /// load with every diagnostic.
    pub async fn load(
        dir: &Path,
        templates: Option<&dyn TemplateLookup>,
        store: &Store,
        now: i64,
    ) -> Result<ScenarioSet, RuntimeError> {
        let rules = Rules::new();
        let mut files = Vec::new();
        collect(dir, &mut files)?;
        files.sort();
        let mut current = Vec::new();
        let mut problems: Vec<Diagnostic> = Vec::new();
        let mut texts = Vec::new();
        for file in files {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| RuntimeError::Io {
                what: name.clone(),
                source: e,
            })?;
            let loaded = scenario::load_checked(&rules, &name, &text, templates);
            problems.extend(loaded.diagnostics.into_iter().filter(Diagnostic::is_error));
            if let Some(s) = loaded.scenario {
                texts.push((s.name.clone(), s.version.clone(), text));
                current.push(Arc::new(s));
            }
        }
        if !problems.is_empty() {
            return Err(RuntimeError::Scenarios(problems));
        }
        for (name, version, text) in &texts {
            store.put_scenario(name, version, text, now).await?;
        }
        let by_version = current
            .iter()
            .map(|s| ((s.name.clone(), s.version.clone()), s.clone()))
            .collect();
        Ok(ScenarioSet {
            rules,
            current,
            by_version: RwLock::new(by_version),
        })
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn current(&self) -> &[Arc<Scenario>] {
        &self.current
    }

    /// The scenario version an instance runs, compiling it from the
    /// database when it is not on disk any more.
    pub async fn version(
        &self,
        store: &Store,
        name: &str,
        version: &str,
    ) -> Result<Arc<Scenario>, RuntimeError> {
        let key = (name.to_string(), version.to_string());
        if let Some(s) = self
            .by_version
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(s);
        }
        let stored = store
            .scenario_versions()
            .await?
            .into_iter()
            .find(|v| v.name == name && v.version == version)
            .ok_or_else(|| RuntimeError::UnknownVersion {
                name: name.to_string(),
                version: version.to_string(),
            })?;
        let file = format!("{name}@{version}");
        let loaded = scenario::load(&self.rules, &file, &stored.yaml);
        let scenario = loaded
            .scenario
            .map(Arc::new)
            .ok_or(RuntimeError::Scenarios(loaded.diagnostics))?;
        if let Ok(mut m) = self.by_version.write() {
            m.insert(key, scenario.clone());
        }
        Ok(scenario)
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), RuntimeError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RuntimeError::Io {
        what: dir.display().to_string(),
        source: e,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
        {
            out.push(path);
        }
    }
    Ok(())
}
