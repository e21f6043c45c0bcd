/**
 * Errors of the protocol-v2 client (`client.ts`): the upstream refused, failed or answered something
 * that is not git protocol v2. Messages name the upstream with its userinfo masked (`redactUpstream`).
 */
import { redactUpstream } from '../../../../upstream/upstream.js';
import { GitopperError } from '../../../../errors/gitopper-error.js';

/**
 * A protocol-v2 request failed: an HTTP status other than 200 (401/403: the credentials), an `ERR`
 * pkt-line or a side-band error message of the server, or a malformed answer. Same code as the
 * other transport failures (`GIT_TRANSPORT`).
 */
export class GitProtocolError extends GitopperError {
  readonly code = 'GIT_TRANSPORT';
  constructor(
    problem: string,
    override readonly data: {
      /** The upstream as configured (the message masks its userinfo). */
      readonly upstream: string;
      /** The request: `GET info/refs`, `POST git-upload-pack (fetch)`. */
      readonly request: string;
      /** The HTTP status, when the failure was one. */
      readonly status?: number;
    },
  ) {
    super(`${redactUpstream(data.upstream)}: ${problem} (${data.request})`);
  }
}

/** What an HTTP status means for a fetch, for {@link GitProtocolError}'s message. */
export function statusProblem(status: number, statusMessage: string, tokenFile: string | undefined): string {
  if (status === 401) {
    return tokenFile === undefined
      ? 'the server wants credentials (HTTP 401): set token_file to a file holding a token (or user:password)'
      : `the server refused the credentials of token_file ${tokenFile} (HTTP 401): is the token valid and not expired?`;
  }
  if (status === 403) return `access denied (HTTP 403)${tokenFile === undefined ? '' : `: may the token of token_file ${tokenFile} read this repository?`}`;
  if (status === 404) return 'no repository there (HTTP 404)';
  return `the server answered HTTP ${status}${statusMessage ? ` ${statusMessage}` : ''}`;
}
