//! Accessibility checks with axe-core (the npm package, used by the tests only, never shipped):
//! installed once into `target/axe-core` from the npm registry, injected into the page under
//! test, and run there.

use std::{path::PathBuf, process::Command, sync::OnceLock};

use serde_json::Value;

use super::browser::Browser;

/// The axe-core version the tests use.
const AXE_VERSION: &str = "4.14.1";

/// axe-core's script, installed from npm on first use.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let prefix = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe-core");
        let script = prefix.join("node_modules/axe-core/axe.min.js");
        if !script.exists() {
            eprintln!("installing axe-core {AXE_VERSION} from npm for the accessibility tests…");
            let status = Command::new("npm")
                .args([
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                ])
                .arg(&prefix)
                .arg(format!("axe-core@{AXE_VERSION}"))
                .status()
                .expect("npm runs (Node.js and npm are needed for the accessibility tests)");
            assert!(status.success(), "npm install axe-core failed");
        }
        std::fs::read_to_string(&script).expect("axe.min.js")
    })
}

impl Browser {
    /// The serious and critical accessibility violations of the page as it is now: rule id,
    /// impact, and where (a few selectors each).
    pub async fn accessibility_violations(&self) -> Vec<Value> {
        let injected = format!("{}\nreturn typeof axe;", axe_source());
        assert_eq!(self.eval(&injected).await, "object", "axe-core loaded");
        let found = self
            .eval_async(
                "const done = arguments[0];
                 axe.run(document, { resultTypes: ['violations'] }).then((result) => done(
                   result.violations
                     .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' ')) }))
                 ), (err) => done([{ id: 'axe-error', help: String(err) }]));",
            )
            .await;
        found.as_array().cloned().unwrap_or_default()
    }

    /// Fails with the violations found, naming the page.
    pub async fn assert_accessible(&self, page: &str) {
        let violations = self.accessibility_violations().await;
        assert!(
            violations.is_empty(),
            "{page}: serious or critical accessibility violations: {}",
            serde_json::to_string_pretty(&violations).unwrap_or_default()
        );
    }
}
