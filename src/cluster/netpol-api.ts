/** netpol's own API group and version: every netpol CRD (TrafficProfile, StagedNetworkPolicy) is served under them. */
export const NETPOL_GROUP = 'netpol.io';
export const NETPOL_VERSION = 'v1alpha1';
export const NETPOL_API_VERSION = `${NETPOL_GROUP}/${NETPOL_VERSION}`;
