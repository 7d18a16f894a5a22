/**
 * Column-aligned text like Go's tabwriter as kubectl and kubeadm configure it (minimum cell
 * width 10 for kubeadm, padding 3, the last column unpadded), so tlsboot's tables line up the
 * way operators are used to reading them.
 */

export function formatTextTable(rows: readonly (readonly string[])[], minWidth = 0): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(Math.max(minWidth, (widths[i] ?? 0) + 3))))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}
