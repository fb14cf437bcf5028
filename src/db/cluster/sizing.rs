//! How big the local cluster's settings are on a given host: its connection budget and memory, from
//! the host's memory and CPUs. The reasoning, in numbers, is in DEPLOYMENT.md ("PostgreSQL for a fleet").
//!
//! The local cluster shares its host with the bots it serves, so it does not take memory as a dedicated
//! database server would: five eighths of the host are planned for bots, one eighth for PostgreSQL's
//! shared buffers, and the last quarter for its backends, the OS and the page cache.

use std::fmt;

/// Memory of one running bot, its container's share of the engine included, in MiB.
pub const BOT_MIB: u64 = 15;
/// The most connections one tenant's bot opens (`bot::serve::MAX_CONNECTIONS`; a test in `doctor` keeps
/// them equal: `db` does not import the bot).
pub const TENANT_CONNECTIONS: u64 = 5;
/// Connections planned for botctl itself and the operator: a command's pool of 4, a fleet command's
/// `--jobs` + 1, `platform serve`, a psql session or two.
pub const OPERATOR_CONNECTIONS: u64 = 20;
/// PostgreSQL's default `superuser_reserved_connections`, which botctl leaves alone.
pub const SUPERUSER_RESERVED: u64 = 3;
/// A backend's own memory beside `work_mem`: its catalog caches and buffers, in MiB.
const BACKEND_MIB: u64 = 5;
/// Tenant queries sort and hash dozens of rows, not millions: PostgreSQL's default is plenty.
const WORK_MEM_MIB: u64 = 4;
/// Backends one core can carry when most sit idle in the bots' pools (closed after 10 s idle).
const CONNECTIONS_PER_CPU: u64 = 500;
/// PostgreSQL's default; a small host still gets it.
const MIN_CONNECTIONS: u64 = 100;
/// Past this many backends a server wants a pooler in front (DEPLOYMENT.md), not more slots.
const MAX_CONNECTIONS: u64 = 2000;

/// Tenants planned to be busy at the same moment among `running`: one in ten (the fleet benchmark's
/// burst), but every one of a fleet of ten or fewer. Idle tenants hold no connection.
pub fn busy_at_once(running: u64) -> u64 {
    running.div_ceil(10).max(running.min(10))
}

/// The machine the cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub memory_mib: u64,
    pub cpus: u64,
}

impl Host {
    /// This machine: its RAM (`sysinfo(2)` through `nix`, already a dependency), lowered to the memory
    /// limit of the cgroup it runs in when there is one (a container), and the CPUs this process may
    /// use (`available_parallelism` follows affinity and cgroup quotas). `None` when the kernel will
    /// not say.
    pub fn this_machine() -> Option<Self> {
        let ram = nix::sys::sysinfo::sysinfo().ok()?.ram_total();
        // cgroup v2, then v1; "max" or a huge number when unlimited.
        let limit = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok()?.trim().parse::<u64>().ok())
            .min();
        let memory = limit.map_or(ram, |limit| limit.min(ram));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        Some(Self { memory_mib: memory / (1024 * 1024), cpus })
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cpus = if self.cpus == 1 { "1 CPU".to_string() } else { format!("{} CPUs", self.cpus) };
        // A machine's memory is never a round size: GiB with a decimal read better than PostgreSQL's units.
        write!(f, "{:.1} GiB and {cpus}", self.memory_mib as f64 / 1024.0)
    }
}

/// The settings botctl writes for the local cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    pub host: Host,
    /// Bots the host holds in memory (five eighths of it at [`BOT_MIB`] each).
    pub bots: u64,
    pub max_connections: u64,
    pub shared_buffers_mib: u64,
    pub effective_cache_size_mib: u64,
    pub work_mem_mib: u64,
    pub maintenance_work_mem_mib: u64,
}

impl Sizing {
    pub fn for_host(host: Host) -> Self {
        let memory = host.memory_mib;
        let bots = memory * 5 / 8 / BOT_MIB;
        // The connections of the busy bots and of botctl are 80 % of the slots, so that the fleet the host
        // holds stays below `doctor`'s warning.
        let planned = busy_at_once(bots) * TENANT_CONNECTIONS + OPERATOR_CONNECTIONS + SUPERUSER_RESERVED;
        let wanted = (planned * 5).div_ceil(4);
        // Every slot in use, each backend with its work_mem, must fit in the last quarter of memory.
        let fits_in_memory = memory / 4 / (BACKEND_MIB + WORK_MEM_MIB);
        let fits_on_cpus = host.cpus.max(1) * CONNECTIONS_PER_CPU;
        let max_connections = wanted.min(fits_in_memory).min(fits_on_cpus).clamp(MIN_CONNECTIONS, MAX_CONNECTIONS);
        Self {
            host,
            bots,
            max_connections,
            // PostgreSQL's default of 128 MB at least; past 8 GB the page cache serves as well.
            shared_buffers_mib: (memory / 8).clamp(128, 8 * 1024),
            // The planner's guess of what is cached: shared buffers and PostgreSQL's share of the page cache.
            effective_cache_size_mib: (memory / 2).max(512),
            work_mem_mib: WORK_MEM_MIB,
            // VACUUM, index builds of migrations and restores; each of the 3 autovacuum workers may take it.
            maintenance_work_mem_mib: (memory / 64).clamp(64, 1024),
        }
    }

    /// The text of the include file.
    pub fn conf(&self) -> String {
        format!(
            "# Written by botctl before every start of this cluster, sized for {host}: do not edit.\n\
             # To choose another value, run ALTER SYSTEM SET as the superuser and restart the cluster:\n\
             # postgresql.auto.conf is read after this file and wins. See DEPLOYMENT.md.\n\
             max_connections = {max_connections}\n\
             shared_buffers = {shared_buffers}MB\n\
             effective_cache_size = {effective_cache_size}MB\n\
             work_mem = {work_mem}MB\n\
             maintenance_work_mem = {maintenance_work_mem}MB\n",
            host = self.host,
            max_connections = self.max_connections,
            shared_buffers = self.shared_buffers_mib,
            effective_cache_size = self.effective_cache_size_mib,
            work_mem = self.work_mem_mib,
            maintenance_work_mem = self.maintenance_work_mem_mib,
        )
    }
}

/// MiB as PostgreSQL writes sizes (its `MB` and `GB` are binary).
pub fn mib(value: u64) -> String {
    if value >= 1024 && value.is_multiple_of(1024) { format!("{}GB", value / 1024) } else { format!("{value}MB") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024;

    fn sized(memory_gib: u64, cpus: u64) -> Sizing {
        Sizing::for_host(Host { memory_mib: memory_gib * GIB, cpus })
    }

    #[test]
    fn one_busy_tenant_in_ten_but_every_one_of_a_small_fleet() {
        assert_eq!(busy_at_once(0), 0);
        assert_eq!(busy_at_once(3), 3);
        assert_eq!(busy_at_once(10), 10);
        assert_eq!(busy_at_once(50), 10);
        assert_eq!(busy_at_once(101), 11);
        assert_eq!(busy_at_once(1000), 100);
    }

    #[test]
    fn a_small_vm_keeps_postgresql_defaults_for_connections_and_shared_buffers() {
        let s = sized(1, 1);
        assert_eq!(s.max_connections, 100);
        assert_eq!(s.shared_buffers_mib, 128);
        assert_eq!(s.effective_cache_size_mib, 512);
        assert_eq!(s.work_mem_mib, 4);
        assert_eq!(s.maintenance_work_mem_mib, 64);
        assert_eq!(s.bots, 42);
    }

    #[test]
    fn this_machine_holds_a_thousand_bots_and_one_in_ten_busy_fits() {
        // 2 cores and 24 GiB, as /proc/meminfo says it (a little under 24 GiB).
        let s = Sizing::for_host(Host { memory_mib: 24_105, cpus: 2 });
        assert_eq!(s.bots, 1004);
        // 101 busy bots × 5 + 20 for botctl + 3 reserved = 528, at 80 % of the slots.
        assert_eq!(s.max_connections, 660);
        assert_eq!(s.shared_buffers_mib, 3013);
        assert_eq!(s.effective_cache_size_mib, 12_052);
        assert_eq!(s.maintenance_work_mem_mib, 376);
        // Every slot busy with its work_mem still fits in the quarter of memory left for backends.
        assert!(s.max_connections * (BACKEND_MIB + WORK_MEM_MIB) <= 24_105 / 4);
    }

    #[test]
    fn few_cores_cap_the_connections_of_a_large_memory() {
        assert_eq!(sized(64, 2).max_connections, 1000);
        assert_eq!(sized(64, 4).max_connections, 1735);
    }

    #[test]
    fn a_big_host_is_capped() {
        let s = sized(512, 64);
        assert_eq!(s.max_connections, 2000);
        assert_eq!(s.shared_buffers_mib, 8 * GIB);
        assert_eq!(s.maintenance_work_mem_mib, GIB);
        assert_eq!(s.effective_cache_size_mib, 256 * GIB);
    }

    #[test]
    fn every_host_gets_settings_within_bounds() {
        for memory_gib in [0, 1, 2, 4, 8, 16, 24, 32, 64, 128, 256, 1024, 4096] {
            for cpus in [0, 1, 2, 4, 8, 16, 64, 256] {
                let s = sized(memory_gib, cpus);
                assert!((100..=2000).contains(&s.max_connections), "{s:?}");
                assert!((128..=8 * GIB).contains(&s.shared_buffers_mib), "{s:?}");
                assert!((64..=GIB).contains(&s.maintenance_work_mem_mib), "{s:?}");
                assert!(s.effective_cache_size_mib >= s.shared_buffers_mib, "{s:?}");
                // More memory or more CPUs never means fewer connections.
                assert!(sized(memory_gib * 2, cpus).max_connections >= s.max_connections, "{s:?}");
                assert!(sized(memory_gib, cpus * 2).max_connections >= s.max_connections, "{s:?}");
            }
        }
    }

    #[test]
    fn the_include_file_sets_each_setting_with_its_unit() {
        let conf = Sizing::for_host(Host { memory_mib: 24_105, cpus: 2 }).conf();
        assert!(conf.starts_with("# Written by botctl"), "{conf}");
        assert!(conf.contains("sized for 23.5 GiB and 2 CPUs: do not edit"), "{conf}");
        for line in [
            "max_connections = 660\n",
            "shared_buffers = 3013MB\n",
            "effective_cache_size = 12052MB\n",
            "work_mem = 4MB\n",
            "maintenance_work_mem = 376MB\n",
        ] {
            assert!(conf.contains(line), "{line} in {conf}");
        }
        // Comments and settings only: PostgreSQL refuses anything else.
        assert!(conf.lines().all(|l| l.starts_with('#') || l.contains(" = ")), "{conf}");
    }

    #[test]
    fn sizes_read_as_postgresql_writes_them() {
        assert_eq!(mib(128), "128MB");
        assert_eq!(mib(3072), "3GB");
        assert_eq!(mib(3013), "3013MB");
        assert_eq!(Host { memory_mib: 1024, cpus: 1 }.to_string(), "1.0 GiB and 1 CPU");
    }
}
