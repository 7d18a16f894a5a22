/**
 * kubectl asks for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` and prints the server's
 * columns verbatim. This builds those Table bodies: column definitions per resource, cells from
 * each object, and ages in kubectl's short form, with the object's metadata attached per row.
 */
import { looseMetadataOf } from '../api/index.ts';
import { shortHumanDuration } from '../base/duration.ts';
import { rfc3339Millis } from '../base/rfc3339.ts';

export interface TableColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'date';
  readonly format?: 'name';
  readonly description: string;
  /** 1 for columns kubectl shows only with `-o wide`. */
  readonly priority?: 0 | 1;
  readonly cell: (obj: Record<string, unknown>, now: Date) => string | number;
}

/** Whether an Accept header asks for a meta.k8s.io Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io');
  });
}

export function nameCell(obj: Record<string, unknown>): string {
  const n = looseMetadataOf(obj).name;
  return typeof n === 'string' ? n : '';
}

export function ageCell(obj: Record<string, unknown>, now: Date): string {
  const ts = looseMetadataOf(obj).creationTimestamp;
  if (typeof ts !== 'string') return '<unknown>';
  return shortHumanDuration(now.getTime() - rfc3339Millis(ts));
}

export const NAME_COLUMN: TableColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  cell: nameCell,
};

// kubectl's printers declare Age as a string column (its cells are `5m`, `2d`), not a date.
export const AGE_COLUMN: TableColumn = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  cell: ageCell,
};

export const DEFAULT_COLUMNS: readonly TableColumn[] = [NAME_COLUMN, AGE_COLUMN];

function partialMetadata(obj: Record<string, unknown>): Record<string, unknown> {
  // Tables are for people; kube-apiserver leaves the field ownership out of their rows.
  const { managedFields: _, ...metadata } = looseMetadataOf(obj);
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
}

export function columnDefinitions(columns: readonly TableColumn[]): Record<string, unknown>[] {
  return columns.map((c) => ({
    name: c.name,
    type: c.type,
    format: c.format ?? '',
    description: c.description,
    priority: c.priority ?? 0,
  }));
}

/** One row: the cells, and the object as `includeObject` asks (None, Object, or Metadata by default). */
export function tableRow(
  columns: readonly TableColumn[],
  obj: Record<string, unknown>,
  now: Date,
  includeObject: string | null,
): Record<string, unknown> {
  return {
    cells: columns.map((c) => c.cell(obj, now)),
    ...(includeObject === 'None' ? {} : { object: includeObject === 'Object' ? obj : partialMetadata(obj) }),
  };
}

export function buildTable(params: {
  readonly columns: readonly TableColumn[];
  readonly items: readonly Record<string, unknown>[];
  readonly resourceVersion: string;
  readonly now: Date;
  readonly includeObject: string | null;
  readonly withColumnDefinitions?: boolean;
}): Record<string, unknown> {
  const { columns, items, now } = params;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: params.resourceVersion },
    columnDefinitions: params.withColumnDefinitions === false ? [] : columnDefinitions(columns),
    rows: items.map((obj) => tableRow(columns, obj, now, params.includeObject)),
  };
}
