/** TOML config texts for config tests: one `[global]` and two services (`web`, `db`) with extra lines in each. */

/** `[global]` (upstream, mount, one key, then `global`), service `web` (then `web`) and service `db` (then `db`). */
export function twoServices(global: string, web: string, db = ''): string {
  return `[global]
upstream = "https://example.org/r"
mount = "/srv/g"
keys = [{ path = "/k.pub" }]
${global}

[[services]]
machine = "m"
service = "web"
${web}

[[services]]
machine = "m"
service = "db"
${db}
`;
}
