//! The command line's side of settings and errors: flags named as people type them, help texts
//! made from each setting's own description and default, the engine's settings resolved once per
//! command, and the engine's hints phrased for a shell user.

use std::path::Path;

use anyhow::Result;
use verbatim_engine::settings::{Origin, SettingsError};
use verbatim_engine::{Hint, Setting, Settings, SettingsBuilder};

pub use verbatim_engine::settings::{parse_duration, parse_size, show_size};

/// The flag that sets `setting`.
pub fn flag(setting: Setting) -> String {
    match setting {
        Setting::PhraseIndex => "--no-phrase-index".to_string(),
        other => format!("--{}", other.key().replace('_', "-")),
    }
}

/// The help text of the flag that sets `setting`: what it sets, where else it can be set, and its
/// default.
pub fn help(setting: Setting) -> String {
    let about = setting.about();
    let mut first = about.chars();
    let about = first.next().map_or(String::new(), |c| c.to_uppercase().chain(first).collect());
    format!("{about} [env: {}] [config: {}] [default: {}]", setting.env(), setting.key(), setting.default_shown())
}

/// The settings of a command: its flags (added by `given`) over the `VERBATIM_*` variables over
/// the config file (`config`, or the default locations) over the defaults.
pub fn resolve(config: Option<&Path>, given: impl FnOnce(SettingsBuilder) -> SettingsBuilder) -> Result<Settings> {
    let builder = SettingsBuilder::new().config_file(config).map_err(settings_error)?.environment();
    given(builder).build().map_err(settings_error)
}

/// A settings error as a shell user reads it: a flag's value is named by the flag.
fn settings_error(error: SettingsError) -> anyhow::Error {
    match &error {
        SettingsError::Invalid { setting, origin: Origin::Given, value, reason } => {
            anyhow::anyhow!("{} {value:?}: {reason}", flag(*setting))
        }
        SettingsError::Missing { setting: Setting::Archive } => anyhow::anyhow!(
            "no archive given: pass --archive DIR, set VERBATIM_ARCHIVE, or set archive in config/verbatim.toml"
        ),
        _ => error.into(),
    }
}

/// What would help after `error`, phrased for the command line.
pub fn hint(error: &anyhow::Error) -> Option<String> {
    let hint = error.chain().find_map(verbatim_engine::hint_for)?;
    Some(match hint {
        Hint::Raise(setting) => {
            format!("raise {} (or {}, or {} in the config file)", flag(setting), setting.env(), setting.key())
        }
        Hint::Give(setting) => {
            format!("set {} (or {}, or {} in the config file)", flag(setting), setting.env(), setting.key())
        }
        Hint::CreateArchive { location } => format!("create one with `verbatim ingest SOURCE... --archive {location}`"),
        Hint::Verify { location, deep } => {
            let archive = location.map_or(String::new(), |location| format!(" --archive {location}"));
            let deep = if deep { " --deep" } else { "" };
            format!("`verbatim verify{deep}{archive}` checks every file")
        }
        Hint::Recover { location } => {
            format!("`verbatim recover --archive {location}` rebuilds one from the table files")
        }
        Hint::Log { location } => format!("`verbatim log --archive {location}` lists the snapshots kept"),
        Hint::GiveParam { query, param } => format!("give it: `verbatim run {query} --param {param}=VALUE`"),
    })
}
