//! `khaibao rollout status|pause|resume|undo PLATFORM`: watch and steer a platform's rollout.
//! Pause and resume set `spec.rollout.paused`; undo puts the previous revision's snapshot back
//! into the Platform's spec, like `kubectl rollout undo` does for a Deployment — the operator
//! then rolls the tenants back in waves, or at once when the rollout being undone had not
//! finished (its moved tenants are on the revision being abandoned).

use khaibao::api::{AnalysisStatus, Platform, PlatformRevision, RolloutStatus};
use khaibao::diagnostics::Lang;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::apply::CLI_MANAGER;
use super::{ClusterArgs, explain, with_client};
use crate::Global;
use crate::commands::{INVALID, USAGE};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Status,
    Pause,
    Resume,
    Undo,
}

pub fn run(g: &Global, cluster: &ClusterArgs, action: Action, platform: &str) -> u8 {
    let lang = g.lang();
    with_client(cluster, |client| async move {
        let api: Api<Platform> = Api::all(client.clone());
        let p = match api.get_opt(platform).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                eprintln!(
                    "error: {}",
                    say(
                        lang,
                        &format!("platform {platform:?} does not exist (kubectl get platforms)"),
                        &format!("không có nền tảng {platform:?} (kubectl get platforms)"),
                    )
                );
                return INVALID;
            }
            Err(e) => {
                eprintln!("error: {}", explain(&e));
                return USAGE;
            }
        };
        let result = match action {
            Action::Status => {
                print!("{}", describe(&p, lang, now_seconds()));
                return 0;
            }
            Action::Pause | Action::Resume => set_paused(&api, platform, action == Action::Pause)
                .await
                .map(|()| {
                    if action == Action::Pause {
                        say(
                            lang,
                            &format!("platform {platform}: rollout paused; no new wave starts until `khaibao rollout resume {platform}`"),
                            &format!("nền tảng {platform}: đã tạm dừng triển khai; không đợt mới nào bắt đầu cho tới khi chạy `khaibao rollout resume {platform}`"),
                        )
                    } else {
                        say(
                            lang,
                            &format!("platform {platform}: rollout resumed"),
                            &format!("nền tảng {platform}: đã tiếp tục triển khai"),
                        )
                    }
                }),
            Action::Undo => undo(&client, &api, p, lang).await,
        };
        super::print_outcome(result)
    })
}

fn say(lang: Lang, en: &str, vi: &str) -> String {
    if lang == Lang::Vi { vi } else { en }.to_string()
}

fn now_seconds() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

async fn set_paused(api: &Api<Platform>, name: &str, paused: bool) -> Result<(), String> {
    let patch = json!({"spec": {"rollout": {"paused": paused}}});
    let params = PatchParams {
        field_manager: Some(CLI_MANAGER.into()),
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| explain(&e))
}

/// Puts the previous revision's content back into the platform's spec.
async fn undo(
    client: &kube::Client,
    api: &Api<Platform>,
    mut p: Platform,
    lang: Lang,
) -> Result<String, String> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let status = p.status.clone().unwrap_or_default();
    let active = status.rollout.as_ref().filter(|r| r.is_active());
    let (back_to, how) = match (active, &status.previous_revision) {
        (Some(r), _) => (
            r.from.clone(),
            say(
                lang,
                &format!(
                    "the rollout to {} had not finished: the {} tenant(s) it moved return at once, the others never left",
                    r.to, r.on_target
                ),
                &format!(
                    "đợt triển khai sang {} chưa xong: {} đơn vị đã chuyển sẽ quay lại ngay, các đơn vị khác chưa hề rời đi",
                    r.to, r.on_target
                ),
            ),
        ),
        (None, Some(prev)) => (
            prev.clone(),
            say(
                lang,
                "tenants move back in waves, as in any rollout (`khaibao rollout status` shows them)",
                "các đơn vị quay lại theo từng đợt như mọi lần triển khai (xem `khaibao rollout status`)",
            ),
        ),
        (None, None) => {
            return Err(say(
                lang,
                &format!("platform {name} has no previous revision to go back to"),
                &format!("nền tảng {name} không có phiên bản trước để quay lại"),
            ));
        }
    };
    let revisions: Api<PlatformRevision> = Api::all(client.clone());
    let snapshot_name = PlatformRevision::name_for(&name, &back_to);
    let snapshot = match revisions.get_opt(&snapshot_name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(say(
                lang,
                &format!(
                    "the snapshot of revision {back_to} (PlatformRevision {snapshot_name}) no longer exists; apply the platform folder of that version instead"
                ),
                &format!(
                    "bản chụp của phiên bản {back_to} (PlatformRevision {snapshot_name}) không còn; hãy apply thư mục nền tảng của phiên bản đó"
                ),
            ));
        }
        Err(e) => return Err(explain(&e)),
    };
    let rollout = p.spec.rollout.take();
    p.spec = snapshot.spec.content;
    p.spec.rollout = rollout;
    // Replace (not patch) so the whole content is the snapshot's, and with the resourceVersion
    // read above, so a concurrent change is refused rather than overwritten.
    p.status = None;
    api.replace(&name, &PostParams::default(), &p)
        .await
        .map_err(|e| explain(&e))?;
    Ok(say(
        lang,
        &format!("platform {name}: back to revision {back_to}; {how}"),
        &format!("nền tảng {name}: quay lại phiên bản {back_to}; {how}"),
    ))
}

/// The rollout of `p` as text: revisions, phase, waves, counts, failures and an ETA.
pub fn describe(p: &Platform, lang: Lang, now: i64) -> String {
    let name = p.metadata.name.clone().unwrap_or_default();
    let status = p.status.clone().unwrap_or_default();
    let mut out = String::new();
    let line = |out: &mut String, en: &str, vi: &str, value: String| {
        out.push_str(&format!("{:<14} {value}\n", say(lang, en, vi)));
    };
    line(&mut out, "Platform:", "Nền tảng:", name.clone());
    line(
        &mut out,
        "Revision:",
        "Phiên bản:",
        status.revision.clone().unwrap_or_else(|| "-".into()),
    );
    let Some(r) = status.rollout.as_ref() else {
        line(
            &mut out,
            "Rollout:",
            "Triển khai:",
            say(lang, "none yet", "chưa có"),
        );
        return out;
    };
    line(
        &mut out,
        "Rollout:",
        "Triển khai:",
        format!("{} → {}  {}", r.from, r.to, phase(lang, &r.phase)),
    );
    line(
        &mut out,
        "Waves:",
        "Đợt:",
        format!("{}/{}", r.waves_started, r.waves),
    );
    line(
        &mut out,
        "Tenants:",
        "Đơn vị:",
        say(
            lang,
            &format!(
                "{} total, {} moved, {} ready on {}, {} failed",
                r.total, r.on_target, r.ready, r.to, r.failed
            ),
            &format!(
                "tổng {}, đã chuyển {}, sẵn sàng trên {} {}, lỗi {}",
                r.total, r.on_target, r.to, r.ready, r.failed
            ),
        ),
    );
    if let Some(started) = &r.started_at {
        let elapsed = r
            .finished_at
            .as_ref()
            .map_or(now, |f| f.0.as_second())
            .saturating_sub(started.0.as_second());
        line(&mut out, "Elapsed:", "Đã chạy:", format!("{elapsed} s"));
        if let Some(eta) = eta(r, elapsed) {
            line(&mut out, "ETA:", "Dự kiến còn:", format!("~{eta} s"));
        }
    }
    if let Some(m) = &r.message {
        line(&mut out, "Message:", "Thông báo:", m.clone());
    }
    if let Some(a) = &r.analysis {
        line(
            &mut out,
            "Analysis:",
            "Phân tích:",
            say(
                lang,
                &format!("wave {}: {}", a.wave, a.phase),
                &format!("đợt {}: {}", a.wave, analysis_phase_vi(&a.phase)),
            ),
        );
        for c in &a.checks {
            let mut row = format!(
                "  {:<6} {:<20} {}",
                c.kind,
                c.name,
                say(
                    lang,
                    &format!("{} ok, {} failed", c.successes, c.failures),
                    &format!("{} đạt, {} không đạt", c.successes, c.failures),
                )
            );
            if c.inconclusive > 0 {
                row.push_str(&say(
                    lang,
                    &format!(", {} not measured", c.inconclusive),
                    &format!(", {} lần không đo được", c.inconclusive),
                ));
            }
            if let Some(v) = &c.last_value {
                row.push_str(&format!("  = {v}"));
            }
            if let Some(m) = &c.last_message {
                row.push_str(&format!("  ({m})"));
            }
            out.push_str(&row);
            out.push('\n');
        }
    }
    if !status.failing.is_empty() {
        out.push_str(&say(lang, "Failing tenants:\n", "Đơn vị đang lỗi:\n"));
        for f in &status.failing {
            out.push_str(&format!("  {}  {}: {}\n", f.tenant, f.reason, f.message));
        }
    }
    out
}

/// Seconds left, from the pace of the waves so far; none when not progressing.
fn eta(r: &RolloutStatus, elapsed: i64) -> Option<i64> {
    if r.phase != RolloutStatus::PROGRESSING || r.waves_started <= 0 {
        return None;
    }
    let per_wave = elapsed / i64::from(r.waves_started);
    Some(per_wave * i64::from((r.waves - r.waves_started).max(0)) + per_wave / 2)
}

fn analysis_phase_vi(phase: &str) -> &str {
    match phase {
        AnalysisStatus::RUNNING => "đang chạy",
        AnalysisStatus::SUCCESSFUL => "đạt",
        AnalysisStatus::FAILED => "không đạt",
        other => other,
    }
}

fn phase(lang: Lang, phase: &str) -> String {
    let vi = match phase {
        RolloutStatus::PROGRESSING => "đang triển khai",
        RolloutStatus::PAUSED => "tạm dừng",
        RolloutStatus::HALTED => "đã dừng do lỗi",
        RolloutStatus::COMPLETE => "hoàn tất",
        RolloutStatus::CANCELLED => "đã huỷ",
        other => other,
    };
    say(lang, phase, vi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use khaibao::api::{FailingTenant, PlatformStatus};

    fn platform(rollout: RolloutStatus) -> Platform {
        let mut p = Platform::new("dichvucong", Default::default());
        p.status = Some(PlatformStatus {
            revision: Some("aaaa".into()),
            rollout: Some(rollout),
            failing: vec![FailingTenant {
                tenant: "tinh-01/ha-noi".into(),
                reason: "TemplateError".into(),
                message: "templates/portal.hbs:3: unknown helper".into(),
                since: None,
            }],
            ..Default::default()
        });
        p
    }

    #[test]
    fn status_shows_waves_progress_failures_and_eta() {
        let started = k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap();
        let p = platform(RolloutStatus {
            from: "aaaa".into(),
            to: "bbbb".into(),
            phase: RolloutStatus::PROGRESSING.into(),
            waves: 11,
            waves_started: 2,
            total: 63,
            on_target: 8,
            ready: 7,
            started_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                started,
            )),
            ..Default::default()
        });
        let text = describe(&p, Lang::En, 1_040);
        assert!(text.contains("aaaa → bbbb  Progressing"), "{text}");
        assert!(text.contains("2/11"), "{text}");
        assert!(
            text.contains("63 total, 8 moved, 7 ready on bbbb, 0 failed"),
            "{text}"
        );
        assert!(text.contains("~190 s"), "{text}");
        assert!(text.contains("tinh-01/ha-noi  TemplateError"), "{text}");
        let vi = describe(&p, Lang::Vi, 1_040);
        assert!(vi.contains("đang triển khai"), "{vi}");
    }

    #[test]
    fn status_shows_each_analysis_check() {
        use khaibao::api::AnalysisCheckStatus;
        let p = platform(RolloutStatus {
            phase: RolloutStatus::HALTED.into(),
            analysis: Some(AnalysisStatus {
                wave: 1,
                phase: AnalysisStatus::FAILED.into(),
                checks: vec![AnalysisCheckStatus {
                    name: "home-page".into(),
                    kind: "http".into(),
                    failures: 1,
                    last_value: Some("500".into()),
                    last_message: Some("tinh-01/ha-noi: answered 500".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        let text = describe(&p, Lang::En, 0);
        assert!(text.contains("wave 1: Failed"), "{text}");
        assert!(
            text.contains(
                "http   home-page            0 ok, 1 failed  = 500  (tinh-01/ha-noi: answered 500)"
            ),
            "{text}"
        );
        let vi = describe(&p, Lang::Vi, 0);
        assert!(
            vi.contains("đợt 1: không đạt") && vi.contains("0 đạt, 1 không đạt"),
            "{vi}"
        );
    }

    #[test]
    fn no_eta_when_halted() {
        let r = RolloutStatus {
            phase: RolloutStatus::HALTED.into(),
            waves: 5,
            waves_started: 1,
            ..Default::default()
        };
        assert_eq!(eta(&r, 100), None);
    }
}
