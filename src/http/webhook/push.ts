/**
 * Push webhooks from GitHub, Gitea/Forgejo and GitLab: verify the request and say which repository
 * and branch were pushed. Pure (node:crypto and the error base only).
 *
 * Verification rules: GitHub `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`
 * (docs.github.com, "Validating webhook deliveries"); Gitea/Forgejo `X-Gitea-Signature` (or
 * `X-Forgejo-Signature`): hex HMAC-SHA256 of the body; GitLab `X-Gitlab-Token`: the secret itself.
 * All comparisons are constant-time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { GitopperError } from '../../errors/gitopper-error.js';

/**
 * A verified push: the repository's URLs as the forge names them, and the branch. An upstream is the
 * pushed repository when it has the same `webhookKey` as one of `urls` (src/upstream/upstream.ts).
 */
export interface Push {
  readonly forge: 'github' | 'gitea' | 'gitlab';
  readonly urls: readonly string[];
  readonly branch: string;
}

/**
 * Why a webhook request was not acted on: UNAUTHORIZED (a missing or wrong signature), BAD_REQUEST
 * (not a usable push payload), WEBHOOK_IGNORED (verified, but not a branch push). Their statuses
 * (401, 400, 202) are `src/http/errors.ts`'s.
 */
export class WebhookError extends GitopperError {
  /**
   * @param code why (see the class comment)
   * @param message the reason, as answered and logged
   */
  constructor(
    readonly code: 'UNAUTHORIZED' | 'BAD_REQUEST' | 'WEBHOOK_IGNORED',
    message: string,
  ) {
    super(message);
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Verify `body` (raw bytes) with `headers` (lower-case names) against `secret`, then read the push.
 * Throws WebhookError.
 */
export function verifyPush(headers: Readonly<Record<string, string | undefined>>, body: Buffer, secret: string): Push {
  if (secret === '') throw new WebhookError('UNAUTHORIZED', 'webhooks are not configured (no hook_secret_file)');
  const hmac = createHmac('sha256', secret).update(body).digest('hex');
  let forge: Push['forge'];
  const gh = headers['x-hub-signature-256'];
  const gitea = headers['x-gitea-signature'] ?? headers['x-forgejo-signature'];
  const gitlab = headers['x-gitlab-token'];
  if (gh !== undefined) {
    if (!equal(gh, `sha256=${hmac}`)) throw new WebhookError('UNAUTHORIZED', 'X-Hub-Signature-256 does not match the body');
    forge = 'github';
  } else if (gitea !== undefined) {
    if (!equal(gitea, hmac)) throw new WebhookError('UNAUTHORIZED', 'X-Gitea-Signature does not match the body');
    forge = 'gitea';
  } else if (gitlab !== undefined) {
    if (!equal(gitlab, secret)) throw new WebhookError('UNAUTHORIZED', 'X-Gitlab-Token is wrong');
    forge = 'gitlab';
  } else {
    throw new WebhookError('UNAUTHORIZED', 'unsigned request: no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header');
  }
  const event = headers['x-github-event'] ?? headers['x-gitea-event'] ?? headers['x-forgejo-event'] ?? headers['x-gitlab-event'];
  if (event !== undefined && !/^(push|Push Hook)$/.test(event)) throw new WebhookError('WEBHOOK_IGNORED', `event "${event}" is not a push`);
  let payload: { ref?: unknown; repository?: Record<string, unknown>; project?: Record<string, unknown> };
  try {
    payload = JSON.parse(body.toString('utf8')) as typeof payload;
  } catch {
    throw new WebhookError('BAD_REQUEST', 'the body is not JSON (set the webhook content type to application/json)');
  }
  const ref = typeof payload.ref === 'string' ? payload.ref : '';
  if (!ref.startsWith('refs/heads/')) throw new WebhookError('WEBHOOK_IGNORED', `ref "${ref}" is not a branch`);
  const repo = { ...(payload.repository ?? {}), ...(payload.project ?? {}) };
  const urls = ['clone_url', 'html_url', 'ssh_url', 'git_url', 'url', 'git_http_url', 'git_ssh_url', 'http_url', 'web_url']
    .map((k) => repo[k])
    .filter((u): u is string => typeof u === 'string' && u !== '');
  if (urls.length === 0) throw new WebhookError('BAD_REQUEST', 'the payload names no repository URL');
  return { forge, urls, branch: ref.slice('refs/heads/'.length) };
}
