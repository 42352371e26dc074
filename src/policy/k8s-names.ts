/**
 * The name syntaxes the Kubernetes API server enforces (k8s.io/apimachinery util/validation),
 * re-stated so netpol rejects what `kubectl apply` would. Each check returns the reasons a value is
 * invalid (empty when it is valid), worded like the API server's messages.
 */

/** A syntax of at most `max` characters matching `pattern`; `message` says what a mismatch breaks. */
interface LimitedPattern {
  max: number;
  pattern: RegExp;
  message: string;
}

const DNS1123_LABEL: LimitedPattern = {
  max: 63,
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
  message: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
};
const DNS1123_SUBDOMAIN: LimitedPattern = {
  max: 253,
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  message: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
};
const LABEL_VALUE: LimitedPattern = {
  max: 63,
  pattern: /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/,
  message: "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
};
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
// The API server's `^[a-z0-9]([a-z0-9-]*[a-z0-9])*$` nests quantifiers: a backtracking engine takes
// exponential time on a long almost-name (30 characters: 35 s). `?` for `*` is the same language
// (starts and ends alphanumeric) and matches in linear time.
const IANA_SVC_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** The shape of most name checks: a length limit, then a pattern; each failing part says so as the API server does. */
function limitedPatternErrors(value: string, syntax: LimitedPattern): string[] {
  const errs: string[] = [];
  if (value.length > syntax.max) errs.push(`must be no more than ${syntax.max} characters`);
  if (!syntax.pattern.test(value)) errs.push(syntax.message);
  return errs;
}

/** A DNS-1123 label: namespace names, among others. */
export function dns1123LabelErrors(value: string): string[] {
  return limitedPatternErrors(value, DNS1123_LABEL);
}

/** A DNS-1123 subdomain: object names such as a NetworkPolicy's. */
export function dns1123SubdomainErrors(value: string): string[] {
  return limitedPatternErrors(value, DNS1123_SUBDOMAIN);
}

/** A label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
export function labelKeyErrors(key: string): string[] {
  const parts = key.split('/');
  let name: string;
  const errs: string[] = [];
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else for (const e of dns1123SubdomainErrors(prefix)) errs.push(`prefix part ${e}`);
  } else {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/'"];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name)) {
    errs.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
  return errs;
}

/** A label value: empty, or at most 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric. */
export function labelValueErrors(value: string): string[] {
  return limitedPatternErrors(value, LABEL_VALUE);
}

/** A port name (IANA_SVC_NAME, RFC 6335): what a named container port or NetworkPolicy port may be. */
export function portNameErrors(name: string): string[] {
  const errs: string[] = [];
  if (name.length < 1 || name.length > 15) errs.push('must be no more than 15 characters');
  // Length first: whatever the pattern, no regex runs over an arbitrarily long input.
  if (name.length > 1024) return errs;
  if (!IANA_SVC_NAME.test(name)) errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (name.includes('--')) errs.push('must not contain consecutive hyphens');
  if (!/[a-z]/.test(name)) errs.push('must contain at least one letter (a-z)');
  return errs;
}

export function portNumberErrors(port: number): string[] {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : ['must be between 1 and 65535, inclusive'];
}
