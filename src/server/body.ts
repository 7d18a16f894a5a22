/**
 * Request bodies: JSON (plain, merge-patch, strategic-merge-patch) or Kubernetes protobuf, decoded
 * only after the request was admitted. An unknown media type is a 415, bad JSON or JSON nested
 * deeper than MAX_JSON_DEPTH a 400, so nothing after parsing has to guard its recursion.
 */
import { BadRequestError, UnsupportedMediaTypeError } from '../base/errors.ts';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../base/json.ts';
import { decodeKubernetesProtobuf } from './protobuf.ts';

export function parseBody(raw: unknown, contentType: string | undefined): unknown {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return undefined;
  const type = (contentType ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/vnd.kubernetes.protobuf') return decodeKubernetesProtobuf(raw);
  const allowed = ['application/json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', '*/*', ''];
  if (!allowed.includes(type)) {
    throw new UnsupportedMediaTypeError(
      'MEDIA_TYPE',
      'the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json, application/vnd.kubernetes.protobuf',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadRequestError('BODY_JSON', 'the request body is not valid JSON');
  }
  // JSON.parse itself is iterative; what comes after it (patching, validation) need not be.
  if (exceedsJsonDepth(parsed)) {
    throw new BadRequestError('BODY_TOO_DEEP', `the request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return parsed;
}
