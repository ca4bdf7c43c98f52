//! `khaibao report --html` on a fleet with Ready and failing tenants (four provinces, one of
//! them schema-invalid, and three communes of Hà Nội from a TenantSet), rendered by headless
//! Chromium on the control plane and operator of this binary.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao_e2e::chromium::{artifacts_dir, chromium, fresh_dir, run_chromium};
use khaibao_e2e::{
    conditions_summary, khaibao, tenant_condition, tenant_ready, wait_until, with_shared,
};
use kube::ResourceExt;
use serde_json::json;

/// True when `px` is within a few levels of `rgb` on every channel (colour management may
/// shift a level or two).
fn near(px: &[u8], rgb: [u8; 3]) -> bool {
    px.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6)
}

/// `khaibao report --html` on a fleet with Ready and failing tenants, rendered by headless
/// Chromium: the DOM has one row per province with the right figures, and the screenshot
/// (kept in `<target>/artifacts/report.png`) shows the green and red bars.
#[test]
fn html_report_renders_in_headless_chromium() {
    let browser = chromium();
    if let Err(e) = browser {
        panic!("{e:#}");
    }
    with_shared(async |env| {
        let s = env.cp.scope("report").await?;
        s.apply_platform(&s.platform_manifest()?).await?;
        // Four Ready provinces, one invalid (schema), and three Ready communes of Hà Nội (the
        // province of the 34-province division, as its communes).
        let (ha_noi, mut set) = s.ha_noi_example()?;
        let mut tenants = s.provinces(&["31", "48", "79", "92"])?;
        tenants.push(ha_noi);
        let bad = tenants
            .iter_mut()
            .find(|t| t["spec"]["unit"]["code"] == "92")
            .context("no 92")?;
        bad["spec"]["values"] = json!({"rateLimitPerMinute": 5});
        s.create_tenants(&tenants).await?;
        let reg = khaibao::registry::units(khaibao::registry::Division::D34);
        let codes: Vec<&str> = reg
            .communes_of("01")
            .take(3)
            .map(|c| c.code.as_str())
            .collect();
        set["spec"]["units"] = json!({"codes": codes});
        s.apply_tenant_set(&set).await?;
        wait_until(
            "7 Ready tenants and can-tho failing",
            Duration::from_secs(90),
            async || {
                let tenants = s.tenants().await?;
                let ready = tenants.iter().filter(|t| tenant_ready(t)).count();
                let can_tho = tenants
                    .iter()
                    .find(|t| t.name_any() == "can-tho")
                    .context("no can-tho")?;
                let failing = tenant_condition(can_tho, "Ready")
                    .is_some_and(|c| c.status == "False" && c.reason == "SchemaViolation");
                ensure!(
                    tenants.len() == 8 && ready == 7 && failing,
                    "{} tenants, {ready} Ready; can-tho: {}",
                    tenants.len(),
                    conditions_summary(can_tho)
                );
                Ok(())
            },
        )
        .await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;

        let dir = artifacts_dir()?;
        let html = dir.join("report.html");
        let _ = std::fs::remove_file(&html);
        let (html_arg, kubeconfig) = (
            html.display().to_string(),
            env.cp.kubeconfig.display().to_string(),
        );
        let out = khaibao(
            &env.cp,
            [
                "report",
                "--html",
                &html_arg,
                "--platform",
                s.platform.as_str(),
                "--kubeconfig",
                &kubeconfig,
            ],
            Duration::from_secs(60),
        )?;
        ensure!(
            out.code == Some(0),
            "khaibao report failed ({:?}): {}",
            out.code,
            out.stderr
        );
        ensure!(
            out.stdout.trim() == format!("wrote {}", html.display()),
            "stdout {:?}",
            out.stdout
        );

        // The DOM after Chromium parsed and laid out the page.
        let profile = fresh_dir(&env.cp.state_dir, "chromium-profile")?;
        let started = Instant::now();
        let dom = run_chromium(&html, &profile, &["--dump-dom".into()])?;
        eprintln!("chromium --dump-dom took {:.1?}", started.elapsed());
        for want in [
            "<h1>National status</h1>",
            "7/8 tenants Ready · 87%",
            // code, province, province Ready, communes Ready/total, failing, on revision/tenants
            "<tr id=\"p01\"><td>01</td><td>Thành phố Hà Nội</td><td>✓</td><td>3/3</td><td class=\"\">0</td><td>4/4</td></tr>",
            "<tr id=\"p31\"><td>31</td><td>Thành phố Hải Phòng</td><td>✓</td><td>0/0</td><td class=\"\">0</td><td>1/1</td></tr>",
            "<tr id=\"p92\"><td>92</td><td>Thành phố Cần Thơ</td><td>✗</td><td>0/0</td><td class=\"bad\">1</td><td>0/1</td></tr>",
            "<b>report-tinh-92/can-tho</b>",
        ] {
            ensure!(dom.contains(want), "the rendered DOM lacks {want:?}");
        }
        let rows = dom.matches("<tr id=\"p").count();
        ensure!(rows == 5, "{rows} province rows, expected 5");
        ensure!(
            dom.matches("<rect ").count() == 10,
            "{} bars",
            dom.matches("<rect ").count()
        );

        // The screenshot: right size, not blank, green bars and the red track of Cần Thơ.
        let png_path = dir.join("report.png");
        let _ = std::fs::remove_file(&png_path);
        let (w, h) = (1280u32, 900u32);
        run_chromium(
            &html,
            &profile,
            &[
                format!("--screenshot={}", png_path.display()),
                format!("--window-size={w},{h}"),
            ],
        )?;
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&png_path)
                .with_context(|| format!("no screenshot at {}", png_path.display()))?,
        ));
        let mut reader = decoder.read_info()?;
        let mut buf = vec![0; reader.output_buffer_size().context("png too large")?];
        let info = reader.next_frame(&mut buf)?;
        ensure!(
            (info.width, info.height) == (w, h),
            "screenshot is {}x{}",
            info.width,
            info.height
        );
        let channels = info.color_type.samples();
        ensure!(
            channels >= 3,
            "screenshot colour type {:?}",
            info.color_type
        );
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
            .chunks(channels)
            .map(|p| &p[..3])
            .collect();
        let white = pixels.iter().filter(|p| near(p, [255, 255, 255])).count();
        let green = pixels
            .iter()
            .filter(|p| near(p, [0x2e, 0x7d, 0x32]))
            .count();
        let red_track = pixels
            .iter()
            .filter(|p| near(p, [0xff, 0xcd, 0xd2]))
            .count();
        let distinct: BTreeSet<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
        eprintln!(
            "screenshot {w}x{h}: {} colours, {:.1}% white, {green} green and {red_track} light-red pixels; kept in {}",
            distinct.len(),
            white as f64 * 100.0 / pixels.len() as f64,
            png_path.display()
        );
        ensure!(white < pixels.len() * 99 / 100, "the screenshot is blank");
        ensure!(
            distinct.len() > 20,
            "only {} colours: no text rendered",
            distinct.len()
        );
        // Four full green bars of 14x120 px; Cần Thơ's bar is empty, its track light red.
        ensure!(
            green >= 4 * 14 * 110,
            "{green} green pixels: the Ready bars are missing"
        );
        ensure!(
            red_track >= 14 * 110,
            "{red_track} light-red pixels: the failing province is not marked"
        );
        s.cleanup().await
    });
}
