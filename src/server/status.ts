/**
 * Errors to HTTP: the api layer's Status table plus what the request was about — its resource and
 * group, the object's Kind (an Invalid Status names the Kind) and name (on create, the body's).
 */
import { type StatusResponse, toStatus } from '../api/index.ts';
import { isObject } from '../base/json.ts';
import type { ResourceRequestInfo } from './request-info.ts';

export interface StatusSubject {
  readonly info: ResourceRequestInfo;
  /** The served Kind, once the resource is known. */
  readonly kind?: string;
  /** The object's name when the URL has none (a create): `metadata.name` of the body. */
  readonly body?: unknown;
}

function bodyName(body: unknown): string {
  const meta = isObject(body) ? body.metadata : undefined;
  return isObject(meta) && typeof meta.name === 'string' ? meta.name : '';
}

export function statusFor(error: unknown, subject?: StatusSubject): StatusResponse {
  if (!subject) return toStatus(error);
  const { info } = subject;
  const name = info.name || bodyName(subject.body);
  return toStatus(error, {
    ...(name ? { name } : {}),
    ...(info.group ? { group: info.group } : {}),
    resource: info.resource,
    ...(subject.kind ? { kind: subject.kind } : {}),
  });
}
