//! The API server goes away for 20 s while the operator is creating the provinces' objects. The
//! operator (the same process, not restarted) recovers by itself, converges exactly, and picks
//! up a tenant created after the outage.

use std::time::{Duration, Instant};

use anyhow::ensure;
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Operator, OperatorOptions, SHARED_OBJECTS, Scope, assert_no_secret_leaks,
    tail, with_cluster,
};

const OUTAGE: Duration = Duration::from_secs(20);

#[test]
fn operator_recovers_from_a_20s_apiserver_outage() {
    with_cluster(async |cp| {
        let mut op = Operator::start(cp, OperatorOptions::new("e2e-outage"))?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let s = Scope::new(cp.client().await?, "outage");
        s.apply_platform(&s.platform_manifest()?).await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;

        // 62 provinces now; Cà Mau (96) after the outage.
        let mut tenants = s.provinces(&[])?;
        let late = tenants.pop().expect("63 provinces");
        ensure!(
            late["spec"]["unit"]["code"] == "96",
            "last province is not 96"
        );
        let expected = 62 * OBJECTS_PER_TENANT + SHARED_OBJECTS;
        s.create_tenants(&tenants).await?;
        let mut before = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            before = s.objects().await?.len();
            if before >= expected / 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cp.kill_apiserver()?;
        let down = Instant::now();
        eprintln!("API server killed with {before}/{expected} objects");
        ensure!(
            before < expected,
            "the fleet converged before the outage; nothing was interrupted"
        );
        tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
        ensure!(
            op.is_running(),
            "the operator exited during the outage:\n{}",
            tail(&op.log(), 20)
        );
        cp.restart_apiserver()?;
        eprintln!("API server back after {:.1?}", down.elapsed());

        let took = s.wait_ready(62, Duration::from_secs(120)).await?;
        eprintln!("converged {took:.1?} after the API server came back");
        let objects = s.objects().await?;
        ensure!(
            objects.len() == expected,
            "{} objects, expected exactly {expected}",
            objects.len()
        );

        // Watches work again: a new tenant is reconciled.
        s.create_tenants(&[late]).await?;
        let took = s.wait_ready(63, Duration::from_secs(60)).await?;
        eprintln!("a tenant created after the outage was Ready in {took:.1?}");
        ensure!(
            s.objects().await?.len() == expected + OBJECTS_PER_TENANT,
            "wrong object count after the new tenant"
        );
        ensure!(
            op.is_running() && op.starts == 1,
            "the operator was restarted or exited"
        );
        let secrets = s.generated_secrets().await?;
        ensure!(secrets.len() == 63, "{} generated secrets", secrets.len());
        assert_no_secret_leaks(&s.client, &secrets, &[op.log_path()]).await?;
        Ok(())
    });
}
