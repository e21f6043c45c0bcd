/**
 * The body a `[[notify]]` target receives for one event, by its `format` (docs/trust-and-rollout.md,
 * "Notifications"):
 *  - `json`: the event itself (`NotifyEvent`, version 1) plus `link` when the target has a template;
 *  - `slack`: a Slack incoming-webhook message `{text, blocks}` (Slack's "Sending messages using incoming
 *    webhooks": `text` is the notification fallback, `blocks` a `section` with mrkdwn and a `context`);
 *  - `matrix`: a matrix-hookshot generic-webhook message `{text, html}` (hookshot docs/setup/webhooks.md:
 *    `text` becomes the event's `body`, `html` its `formatted_body`).
 * Pure.
 */
import type { NotifyFormat } from '../../config/config.js';
import type { NotifyEvent } from '../../ports/notify.js';

/**
 * `template` with `$host`, `$service`, `$commit` and `$event` replaced by the event's values, each
 * URL-encoded (`encodeURIComponent`); other `$words` are left as written (Grafana's own variables).
 */
export function eventLink(template: string, event: NotifyEvent): string {
  const values: Record<string, string> = { host: event.host, service: event.service, commit: event.commit, event: event.event };
  return template.replace(/\$(host|service|commit|event)\b/g, (_, name: string) => encodeURIComponent(values[name]!));
}

/** First 8 hex digits of `commit`, or `none` for "" (nothing deployed). */
function short(commit: string): string {
  return commit === '' ? 'none' : commit.slice(0, 8);
}

/** What happened, in one plain line without host and service: `applied 1a2b3c4d (was 5e6f7a8b)`. */
export function eventLine(e: NotifyEvent): string {
  const why = e.reason ?? (e.info === '' ? undefined : e.info);
  const tail = why === undefined ? '' : `: ${why}`;
  switch (e.event) {
    case 'applied':
      return `applied ${short(e.commit)} (was ${short(e.previous)})`;
    case 'AUTO-ROLLBACK':
      return `AUTO-ROLLBACK from ${short(e.previous)} to ${short(e.commit)}${e.reason === undefined ? '' : `: ${e.reason}`}`;
    case 'refused':
      return `refused ${short(e.tip ?? '')}, staying on ${short(e.commit)}${tail}`;
    case 'held':
      return `held ${short(e.tip ?? '')} on ${short(e.commit)}${e.until === undefined ? '' : ` until ${e.until}`}${tail}`;
    case 'freeze':
      return `frozen${e.by === undefined ? '' : ` by ${e.by}`} at ${short(e.commit)}${tail}`;
    case 'unfreeze':
      return `unfrozen at ${short(e.commit)}`;
    case 'recovered':
      return `recovered: ${e.state} at ${short(e.commit)}`;
    default:
      return `${e.event} at ${short(e.commit)}${tail}`;
  }
}

/** `host/service: line`, the one-line summary used by the chat formats. */
export function summary(e: NotifyEvent): string {
  return `${e.host}/${e.service}: ${eventLine(e)}`;
}

/** Slack mrkdwn text escaping: `&`, `<` and `>` (Slack's "Formatting text for app surfaces", "Escaping text"). */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** HTML text escaping for Matrix's `formatted_body` (`&`, `<`, `>`, `"`, `'`). */
function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** The Slack incoming-webhook body: `text` (fallback), a mrkdwn `section` (with the link) and a `context` of commit and by. */
function slackBody(e: NotifyEvent, link: string | undefined): object {
  const head = `*${slackEscape(e.host)}* / *${slackEscape(e.service)}*: ${slackEscape(eventLine(e))}`;
  const context = [`state ${e.state}`, `commit \`${short(e.commit)}\``, ...(e.by === undefined ? [] : [`by ${slackEscape(e.by)}`]), e.time];
  return {
    text: summary(e),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: link === undefined ? head : `${head}\n<${link}|details>` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] },
    ],
  };
}

/** The hookshot body: plain `text` and its `html` (bold host/service, the link as an anchor). */
function matrixBody(e: NotifyEvent, link: string | undefined): object {
  const html = `<b>${htmlEscape(e.host)}/${htmlEscape(e.service)}</b>: ${htmlEscape(eventLine(e))}${link === undefined ? '' : ` (<a href="${htmlEscape(link)}">details</a>)`}`;
  return { text: link === undefined ? summary(e) : `${summary(e)} (${link})`, html };
}

/**
 * The JSON body (UTF-8 text) of `event` for a target of `format` whose `link` template is `template`
 * (undefined: no link). The bytes returned are the bytes signed and sent.
 */
export function renderBody(event: NotifyEvent, format: NotifyFormat, template: string | undefined): string {
  const link = template === undefined ? undefined : eventLink(template, event);
  if (format === 'slack') return JSON.stringify(slackBody(event, link));
  if (format === 'matrix') return JSON.stringify(matrixBody(event, link));
  return JSON.stringify(link === undefined ? event : { ...event, link });
}
