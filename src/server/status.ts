/** Errors to HTTP: the api layer's Status table plus the request's resource and name as details. */
import { type StatusResponse, toStatus } from '../api/index.ts';
import type { ResourceRequestInfo } from './request-info.ts';

export function statusFor(error: unknown, info?: ResourceRequestInfo): StatusResponse {
  if (!info) return toStatus(error);
  return toStatus(error, {
    ...(info.name ? { name: info.name } : {}),
    ...(info.group ? { group: info.group } : {}),
    kind: info.resource,
  });
}
