//! The one place that decides whether a step may be taken. The process the provider promises its
//! customers: an environment is patched only when every environment before it in its site's
//! promotion order has passed its tests (so live waits for staging), tests are recorded only for
//! a patched environment, and an exclusion always carries its reason.

use jiff::Timestamp;

use crate::model::{Action, CampaignEnv, CampaignState, EventKind, Step};

/// The longest reason, note or test detail kept on an event.
pub const MAX_TEXT_BYTES: usize = 4 * 1024;
/// The longest test output attached to an event (a test run's log, trimmed by the caller).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Why a step was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    /// Steps are taken only while the campaign runs.
    #[error("the campaign is {0}; steps are recorded only while it is active")]
    NotActive(CampaignState),
    /// An earlier environment of the site has not passed its tests.
    #[error("{environment} cannot be patched before {waiting_on} has passed its tests")]
    PromotionBlocked {
        environment: String,
        waiting_on: String,
    },
    /// The step does not follow from where the environment is.
    #[error("{environment} is {from}; it cannot be {action} now")]
    WrongStep {
        environment: String,
        from: Step,
        action: &'static str,
    },
    /// A field is missing or too long.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

fn text(field: &'static str, v: &str, required: bool, max: usize) -> Result<(), CampaignError> {
    if required && v.trim().is_empty() {
        return Err(CampaignError::Invalid {
            field,
            reason: "is required".into(),
        });
    }
    if v.len() > max {
        return Err(CampaignError::Invalid {
            field,
            reason: format!("is {} bytes; at most {max} are kept", v.len()),
        });
    }
    Ok(())
}

/// The step `env` reaches by `action`, given the other environments of the same site in the
/// campaign (`site`, in any order, `env` itself may be among them).
pub fn apply(
    state: CampaignState,
    env: &CampaignEnv,
    site: &[CampaignEnv],
    action: &Action,
) -> Result<Step, CampaignError> {
    if state != CampaignState::Active {
        return Err(CampaignError::NotActive(state));
    }
    let wrong = || CampaignError::WrongStep {
        environment: label(env),
        from: env.step,
        action: action.name(),
    };
    if env.step == Step::Excluded && *action != Action::Include {
        return Err(wrong());
    }
    match action {
        Action::Patched { note } => {
            text("note", note.as_deref().unwrap_or(""), false, MAX_TEXT_BYTES)?;
            if !matches!(env.step, Step::Pending | Step::TestFailed) {
                return Err(wrong());
            }
            if let Some(blocker) = blocker(env, site) {
                return Err(CampaignError::PromotionBlocked {
                    environment: label(env),
                    waiting_on: label(blocker),
                });
            }
            Ok(Step::Patched)
        }
        Action::Tested {
            passed,
            detail,
            output,
            ..
        } => {
            text("detail", detail, true, MAX_TEXT_BYTES)?;
            text(
                "output",
                output.as_deref().unwrap_or(""),
                false,
                MAX_OUTPUT_BYTES,
            )?;
            // Tests may also be recorded on an environment an inventory already verified.
            if env.step == Step::Verified {
                return Ok(Step::Verified);
            }
            if !matches!(
                env.step,
                Step::Patched | Step::TestFailed | Step::TestPassed
            ) {
                return Err(wrong());
            }
            Ok(if *passed {
                Step::TestPassed
            } else {
                Step::TestFailed
            })
        }
        // What an inventory shows is a fact whatever was recorded before it; the report lists an
        // environment verified without passed tests as an exception.
        Action::Verified { .. } => match env.step {
            Step::Verified => Err(wrong()),
            _ => Ok(Step::Verified),
        },
        Action::Exclude { reason } => {
            text("reason", reason, true, MAX_TEXT_BYTES)?;
            if env.step == Step::Verified {
                return Err(wrong());
            }
            Ok(Step::Excluded)
        }
        Action::Include => {
            if env.step != Step::Excluded {
                return Err(wrong());
            }
            Ok(Step::Pending)
        }
    }
}

/// `env` as `action` leaves it at `now`: the step [`apply`] allows, whether its tests passed since
/// its last patch (a new patch needs new tests), the exclusion reason it carries, and the next
/// version. With the timeline entry that records it.
pub fn advance(
    state: CampaignState,
    env: &CampaignEnv,
    site: &[CampaignEnv],
    action: &Action,
    now: Timestamp,
) -> Result<(CampaignEnv, EventKind), CampaignError> {
    let mut next = env.clone();
    next.step = apply(state, env, site, action)?;
    next.exception = None;
    let kind = match action {
        Action::Patched { .. } => {
            next.tests_passed = false;
            EventKind::Patched
        }
        Action::Tested { passed, .. } => {
            next.tests_passed = *passed;
            EventKind::Tested
        }
        Action::Verified { .. } => EventKind::Verified,
        Action::Exclude { reason } => {
            next.exception = Some(reason.trim().to_owned());
            EventKind::Excluded
        }
        Action::Include => EventKind::Included,
    };
    next.version += 1;
    next.updated_at = now;
    Ok((next, kind))
}

/// The first environment before `env` in its site's promotion order that has not cleared.
fn blocker<'a>(env: &CampaignEnv, site: &'a [CampaignEnv]) -> Option<&'a CampaignEnv> {
    site.iter()
        .filter(|o| o.site_id == env.site_id && o.environment_id != env.environment_id)
        .filter(|o| (o.position, o.kind) < (env.position, env.kind))
        .filter(|o| !o.cleared())
        .min_by_key(|o| (o.position, o.kind))
}

/// Whether every environment of a client is verified or excluded.
pub fn client_done(envs: &[CampaignEnv]) -> bool {
    !envs.is_empty() && envs.iter().all(CampaignEnv::settled)
}

fn label(e: &CampaignEnv) -> String {
    format!("{} {}", e.site_name, e.environment_name)
}
