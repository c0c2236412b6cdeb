// The DNS rules every form shares, in the server's words (backend dns/rules.py and
// dns/validation.py): labels and names, IP addresses, servers ("ip", "ip:port", "[v6]:port"),
// whole numbers within bounds. Each rule is a pure function returning the problem in words, or
// null; the features' zod schemas apply them. The server stays the judge of what only it can know.

export const TTL_MIN = 1;
export const TTL_MAX = 604_800;
export const MAX_NAME = 253;
export const U16 = 65_535;

export const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
export const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
export const NON_ASCII = /[^\u0000-\u007f]/;
const IPV4 = /^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$/;
// Anything that looks like an IPv4 address to the server (leading zeros included), so it is judged as one.
const IPV4_LIKE = /^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$/;

/** A value quoted for a message, shortened (as the server quotes it). */
export function shown(text: string, limit = 80): string {
  return `'${text.length <= limit ? text : `${text.slice(0, limit)}...`}'`;
}

/** The name without its final dot. */
export function bare(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/**
 * Labels of letters, digits, '-' and '_' (`host`: no '_'), at most 63 each, not starting or ending
 * with '-'; 253 characters in all. A label with non-ASCII letters is an IDN: the server converts it
 * (punycode) and checks it then.
 */
export function labelsProblem(text: string, what: string, options: { wildcard?: boolean; host?: boolean } = {}): string | null {
  const plain = bare(text);
  if (!plain) return `${what} is empty`;
  if (plain.length > MAX_NAME) return `${what} is longer than ${MAX_NAME} characters`;
  const parts = plain.split(".");
  for (let i = 0; i < parts.length; i++) {
    const label = parts[i] ?? "";
    if (label === "*" && options.wildcard && i === 0) continue;
    if (label && NON_ASCII.test(label)) continue;
    if ((options.host ? HOST_LABEL : LABEL).test(label)) continue;
    if (!label) return `${what} ${shown(text)} has an empty label`;
    if (options.host && LABEL.test(label)) return `${what} ${shown(text)} must be a host name: letters, digits and '-' (no '_')`;
    const hint = label.includes("*") ? " (a wildcard * may only be the first label)" : "";
    return (
      `${what}: label ${shown(label)} may only hold letters, digits, '-' and '_', ` +
      `may not start or end with '-', and has at most 63 characters${hint}`
    );
  }
  return null;
}

/** BIND's host name rule (check-names) for a full name without the final dot; the root is one. */
export function isHost(full: string, wildcard = false): boolean {
  if (full === "" || full === ".") return true;
  const parts = full.split(".");
  const start = wildcard && parts[0] === "*" ? 1 : 0;
  return parts.slice(start).every((p) => HOST_LABEL.test(p) || NON_ASCII.test(p));
}

/** A fully qualified domain (a forwarded domain, a redirect target): not the root, no spaces or control characters. */
export function domainProblem(input: string, what = "domain", options: { wildcard?: boolean } = {}): string | null {
  const text = input.trim();
  if (!text) return `${what} is empty`;
  if (CONTROL.test(text)) return `${what} contains control characters`;
  if (text === ".") return `${what} may not be the root`;
  if (text.includes(" ")) return `${what} ${shown(text)} may not contain spaces`;
  return labelsProblem(text, what, options);
}

export function ipv4Problem(text: string, what: string): string | null {
  if (!IPV4.test(text) || text.split(".").some((part) => Number(part) > 255)) return `${what} ${shown(text)} is not an IPv4 address`;
  return null;
}

export function ipv6Problem(text: string, what: string): string | null {
  if (text.includes("%")) return `${what} ${shown(text)}: a scope id (%...) is not allowed`;
  if (!text.includes(":") || !/^[0-9A-Fa-f:.]{2,45}$/.test(text)) return `${what} ${shown(text)} is not an IPv6 address`;
  try {
    new URL(`http://[${text}]/`);
    return null;
  } catch {
    return `${what} ${shown(text)} is not an IPv6 address`;
  }
}

/** Whether the text is meant as an IP address (the server then judges it as one, not as a name). */
export function looksLikeIp(text: string): boolean {
  return IPV4_LIKE.test(text) || text.includes(":") || text.includes("%");
}

/** An IPv4 or IPv6 address, never with a scope id. */
export function ipProblem(text: string, what: string): string | null {
  if (text.includes("%")) return `${what} ${shown(text)}: a scope id (%...) is not allowed`;
  const problem = text.includes(":") ? ipv6Problem(text, what) : ipv4Problem(text, what);
  return problem === null ? null : `${what} ${shown(text)} is not an IP address`;
}

/** A server: "ip", "ip:port" (IPv4) or "[ipv6]:port"; no scope id. */
export function serverProblem(input: string): string | null {
  const text = input.trim();
  if (!text) return "server address is empty";
  if (text.includes("%")) return `server ${shown(text)}: a scope id (%...) is not allowed`;
  const v4 = /^([0-9.]+)(?::([0-9]{1,5}))?$/.exec(text);
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?$/.exec(text);
  let port: string | undefined;
  if (v4) {
    if (ipv4Problem(v4[1] ?? "", "server")) return `server ${shown(text)} is not an IP address or ip:port`;
    port = v4[2];
  } else if (v6) {
    if (ipv6Problem(v6[1] ?? "", "server")) return `server ${shown(text)} is not an IP address or ip:port ('[ipv6]:port' for IPv6)`;
    port = v6[2];
  } else if (ipv6Problem(text, "server") === null) {
    port = undefined;
  } else {
    return `server ${shown(text)} is not an IP address or ip:port`;
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > U16)) return `server ${shown(text)}: the port must be a number from 1 to 65535`;
  return null;
}

/** Items typed as a list: separated by commas, spaces or line breaks. */
export function splitList(input: string): string[] {
  return input
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Every item's problem (the first), then repeats, then the count: as the server checks a list. */
export function listProblem(
  items: readonly string[],
  what: string,
  check: (item: string) => string | null,
  options: { max: number; empty?: string | null; same?: (item: string) => string; listName?: string },
): string | null {
  if (items.length === 0) return options.empty ?? null;
  if (items.length > options.max) return `at most ${options.max} ${what}`;
  for (const item of items) {
    const problem = check(item);
    if (problem) return problem;
  }
  const seen = new Set<string>();
  for (const item of items) {
    const key = options.same ? options.same(item) : item;
    if (seen.has(key)) return `${options.listName ?? what} lists ${key} twice`;
    seen.add(key);
  }
  return null;
}

/** A whole number typed in a form: empty (when optional) or within [min, max]. */
export function numberProblem(input: string, what: string, min: number, max: number, optional = true): string | null {
  const text = input.trim();
  if (!text) return optional ? null : `${what} is required`;
  if (!/^[0-9]+$/.test(text)) return `${what} must be a whole number`;
  const value = Number(text);
  if (value < min || value > max) return `${what} must be from ${min} to ${max}`;
  return null;
}
