import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { outcomeOfSync } from '../../test/helpers/errors.ts';
import { isTlsbootError } from '../base/errors.ts';
import { generatePrivateKey, keyMatchesSpki, spkiOf } from '../pki/index.ts';
import { parseSealedFile, sealPrivateKey, unsealCaKeyAsync, unsealPrivateKey } from './sealed-key.ts';

const PASS = Buffer.from('correct horse battery staple');
const key = generatePrivateKey('ecdsa-p256');
const sealed = sealPrivateKey(key, PASS, { randomBytes, logN: 14 });

function edit(text: string, change: (o: Record<string, unknown>) => void): string {
  const o = JSON.parse(text) as Record<string, unknown>;
  change(o);
  return JSON.stringify(o);
}

describe('sealed private keys', () => {
  test('round-trip, and the file holds neither the key nor its scalar', () => {
    const opened = unsealPrivateKey(sealed, PASS, 'ca.key.sealed');
    assert.ok(keyMatchesSpki(opened, spkiOf(key)));
    const der = key.export({ format: 'der', type: 'pkcs8' });
    const d = Buffer.from(String(key.export({ format: 'jwk' }).d), 'base64url');
    const bytes = Buffer.from(sealed);
    for (const secret of [der, d, Buffer.from(d.toString('base64')), Buffer.from(d.toString('hex'))])
      assert.equal(bytes.indexOf(secret), -1, 'no plaintext key material in the sealed file');
    assert.doesNotMatch(sealed, /PRIVATE KEY/);
  });

  test('two seals of one key differ (fresh salt and IV)', () => {
    const again = sealPrivateKey(key, PASS, { randomBytes, logN: 14 });
    assert.notEqual(parseSealedFile(again, 'f').ciphertext, parseSealedFile(sealed, 'f').ciphertext);
    assert.notEqual(parseSealedFile(again, 'f').kdf.salt, parseSealedFile(sealed, 'f').kdf.salt);
  });

  test('a wrong passphrase and any edit of header or ciphertext are one error: SEALED_UNLOCK', () => {
    assert.equal(
      outcomeOfSync(() => unsealPrivateKey(sealed, Buffer.from('correct horse battery stapler'), 'f')),
      'FORBIDDEN/SEALED_UNLOCK',
    );
    const flip = (s: string) => (s[0] === 'A' ? `B${s.slice(1)}` : `A${s.slice(1)}`);
    for (const field of ['ciphertext', 'tag', 'iv'] as const) {
      const tampered = edit(sealed, (o) => {
        o[field] = flip(String(o[field]));
      });
      assert.equal(
        outcomeOfSync(() => unsealPrivateKey(tampered, PASS, 'f')),
        'FORBIDDEN/SEALED_UNLOCK',
        field,
      );
    }
    const otherPin = edit(sealed, (o) => {
      o.publicKeyPin = `sha256:${'0'.repeat(64)}`;
    });
    assert.equal(
      outcomeOfSync(() => unsealPrivateKey(otherPin, PASS, 'f')),
      'FORBIDDEN/SEALED_UNLOCK',
    );
  });

  test('malformed files and passphrases are refused with what is wrong', () => {
    assert.equal(
      outcomeOfSync(() => parseSealedFile('not json', 'f')),
      'INVALID/SEALED_FORMAT',
    );
    assert.equal(
      outcomeOfSync(() => parseSealedFile('{}', 'f')),
      'INVALID/SEALED_FORMAT',
    );
    const weakKdf = edit(sealed, (o) => {
      (o.kdf as Record<string, unknown>).logN = 4;
    });
    assert.equal(
      outcomeOfSync(() => parseSealedFile(weakKdf, 'f')),
      'INVALID/SEALED_FORMAT',
    );
    assert.equal(
      outcomeOfSync(() => sealPrivateKey(key, Buffer.from('short'), { randomBytes, logN: 14 })),
      'INVALID/PASSPHRASE_WEAK',
    );
    assert.equal(
      outcomeOfSync(() => unsealPrivateKey(sealed, Buffer.alloc(0), 'f')),
      'INVALID/PASSPHRASE_EMPTY',
    );
  });

  test('the async unseal checks the key belongs to the CA certificate', async () => {
    const other = generatePrivateKey('ecdsa-p256');
    const cert = { spki: spkiOf(other) } as unknown as Parameters<typeof unsealCaKeyAsync>[2];
    await assert.rejects(
      unsealCaKeyAsync(sealed, PASS, cert, 'f'),
      (e: unknown) => isTlsbootError(e) && e.reason === 'SEALED_KEY_MISMATCH',
    );
    const mine = { spki: spkiOf(key) } as unknown as Parameters<typeof unsealCaKeyAsync>[2];
    assert.ok(keyMatchesSpki(await unsealCaKeyAsync(sealed, PASS, mine, 'f'), spkiOf(key)));
  });
});
