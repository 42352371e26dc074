// ContainerResolver.cached(): what the record path asks per connect. Its one-entry memo must give
// what the cache holds: a "not a container" answer expires after its 5 s, by the time passed in,
// also while memoized, and a container resolved later replaces a memoized answer.
import { describe, expect, it } from 'vitest';
import { ContainerResolver } from '../../src/agent/containers.js';

describe('ContainerResolver.cached', () => {
  it('a host process (null) is memoized until its 5 s are up, judged by the time given', async () => {
    const r = new ContainerResolver();
    const t0 = Date.now();
    expect(r.cached(1n)).toBeUndefined(); // not asked yet
    expect(await r.resolve(1n)).toBeNull(); // the root cgroup: a host process
    expect(r.cached(1n, t0)).toBeNull();
    expect(r.cached(1n, t0 + 1000)).toBeNull(); // memoized
    // Past the negative answer's 5 s (asked again), though the memo held it.
    expect(r.cached(1n, Date.now() + 5001)).toBeUndefined();
    expect(r.cached(1n, t0)).toBeUndefined(); // dropped from the cache, not only from the memo
    expect(await r.resolve(1n)).toBeNull();
    expect(r.cached(1n)).toBeNull();
  });

  it('a container resolved after a memoized answer for another cgroup, and then for the same one, is what cached() gives', async () => {
    const r = new ContainerResolver();
    await r.resolve(1n);
    expect(r.cached(1n, Date.now())).toBeNull();
    const id = 'a'.repeat(64);
    const info = await r.inspectEntry({ cgroupId: 4242n, path: `/sys/fs/cgroup/x/cri-containerd-${id}.scope`, containerId: id, runtime: 'containerd' });
    expect(info?.id).toBe(id);
    expect(r.cached(4242n, Date.now())).toBe(info);
    expect(r.cached(1n, Date.now())).toBeNull();
    // The same cgroup, now known as a container: the memo (null) is not what is given.
    expect(r.cached(1n, Date.now())).toBeNull();
    const again = await r.inspectEntry({ cgroupId: 1n, path: `/sys/fs/cgroup/y/cri-containerd-${id}.scope`, containerId: id, runtime: 'containerd' });
    expect(r.cached(1n, Date.now())).toBe(again);
  });
});
