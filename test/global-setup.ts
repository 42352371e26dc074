// Shared set-up for the whole test run (services the e2e suites need). Filled in by the cluster work.
export default async function setup(): Promise<void | (() => Promise<void>)> {}
