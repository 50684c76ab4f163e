/**
 * The production build (firmware/hal/moddable/esp32/production, docs/firmware.md "Production
 * builds") checked without the SDK: its manifest builds the same app with our sdkconfig and
 * partition table, the sdkconfig turns on flash and NVS encryption, and the partition table is
 * one ESP-IDF can boot and NVS encryption can use. The device root key and the sealed vault sit
 * in NVS (hal/moddable/rootKey.ts): without these settings they are plaintext in flash.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { platformBlock, readManifest, ROOT } from './moddableModules';

const DIR = join(ROOT, 'firmware/hal/moddable/esp32/production');
const manifest = readManifest(join(DIR, 'manifest.json'));

/** mcmanifest resolves "./" build values against the manifest's directory (tools/mcmanifest.js parseBuild). */
function buildPath(value: string): string {
  return value.startsWith('./') ? resolve(DIR, value) : value;
}

function sdkconfig(): Map<string, string> {
  const esp32 = platformBlock(manifest, 'esp32');
  const file = join(buildPath(esp32.build!.SDKCONFIGPATH), 'sdkconfig.defaults');
  const entries = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) entries.set(m[1], m[2]);
  }
  return entries;
}

interface Partition {
  name: string;
  type: string;
  subtype: string;
  offset: number;
  size: number;
  flags: string[];
}

function partitions(): Partition[] {
  const file = buildPath(platformBlock(manifest, 'esp32').build!.PARTITIONS_FILE);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [name, type, subtype, offset, size, flags = ''] = line.split(',').map((f) => f.trim());
      return { name, type, subtype, offset: Number(offset), size: Number(size), flags: flags.split(':').filter(Boolean) };
    });
}

describe('production build: flash and NVS encryption for the device root key (docs/key-loading.md "Keys")', () => {
  it('builds the same app: it includes the repository manifest and adds only ESP32 build variables', () => {
    expect(manifest.include).toHaveLength(1);
    expect(resolve(DIR, manifest.include![0])).toBe(join(ROOT, 'manifest.json'));
    const esp32 = platformBlock(manifest, 'esp32');
    expect(Object.keys(esp32.build!).sort()).toEqual(['PARTITIONS_FILE', 'SDKCONFIGPATH']);
    expect(existsSync(join(buildPath(esp32.build!.SDKCONFIGPATH), 'sdkconfig.defaults'))).toBe(true);
    expect(existsSync(buildPath(esp32.build!.PARTITIONS_FILE))).toBe(true);
    expect(platformBlock(manifest, 'lin').error).toMatch(/ESP32/);
    expect(platformBlock(manifest, 'mac').error).toMatch(/ESP32/);
  });

  it('X1: turns on flash encryption in release mode and NVS encryption with flash-encryption-protected keys', () => {
    const config = sdkconfig();
    expect(config.get('CONFIG_SECURE_FLASH_ENC_ENABLED')).toBe('y');
    expect(config.get('CONFIG_SECURE_FLASH_ENCRYPTION_MODE_RELEASE')).toBe('y');
    expect(config.get('CONFIG_NVS_ENCRYPTION')).toBe('y');
    expect(config.get('CONFIG_NVS_SEC_KEY_PROTECT_USING_FLASH_ENC')).toBe('y');
    // Development mode would let anyone reflash plaintext over UART: not in a production image.
    expect(config.has('CONFIG_SECURE_FLASH_ENCRYPTION_MODE_DEVELOPMENT')).toBe(false);
  });

  it('the development manifest turns on none of it (the first boot of such an image burns eFuses for good)', () => {
    const dev = readManifest();
    for (const block of [dev, ...Object.values(dev.platforms ?? {})] as { build?: Record<string, string> }[]) {
      expect(block.build?.SDKCONFIGPATH).toBeUndefined();
      expect(block.build?.PARTITIONS_FILE).toBeUndefined();
    }
  });

  it('B4: turns on ESP-IDF app rollback, so a new program that never confirms itself is rolled back', () => {
    expect(sdkconfig().get('CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE')).toBe('y');
  });

  it('the partition table fits after the table offset, does not overlap, aligns apps, and fits 4 MB', () => {
    const tableOffset = Number(sdkconfig().get('CONFIG_PARTITION_TABLE_OFFSET'));
    expect(tableOffset).toBe(0xd000);
    const list = [...partitions()].sort((a, b) => a.offset - b.offset);
    // The table itself takes 0xC00 bytes (ESP_PARTITION_TABLE_MAX_LEN); data starts on the next 4 KB.
    expect(list[0].offset).toBeGreaterThanOrEqual(tableOffset + 0x1000);
    for (let i = 1; i < list.length; i++) expect(list[i].offset, list[i].name).toBeGreaterThanOrEqual(list[i - 1].offset + list[i - 1].size);
    for (const p of list) {
      expect(p.offset % 0x1000, p.name).toBe(0);
      if (p.type === 'app') expect(p.offset % 0x10000, p.name).toBe(0);
    }
    const last = list[list.length - 1];
    expect(last.offset + last.size).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  it('X1: NVS has an encrypted nvs_keys partition; NVS itself is not flash-encrypted (NVS encryption covers it)', () => {
    const byName = new Map(partitions().map((p) => [p.name, p]));
    const keys = [...byName.values()].filter((p) => p.subtype === 'nvs_keys');
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ type: 'data', size: 0x1000, flags: ['encrypted'] });
    const nvs = byName.get('nvs');
    expect(nvs).toMatchObject({ type: 'data', subtype: 'nvs', flags: [] });
    // Moddable's 24 KB default NVS: the root key, the identity, the state and six sealed slots.
    expect(nvs!.size).toBeGreaterThanOrEqual(0x6000);
  });

  it('keeps over-the-air updates: two app slots and otadata, so mcconfig does not autosplit', () => {
    const list = partitions();
    expect(list.filter((p) => p.type === 'app').map((p) => p.subtype).sort()).toEqual(['ota_0', 'ota_1']);
    expect(list.find((p) => p.type === 'data' && p.subtype === 'ota')?.size).toBe(0x2000);
    const [a, b] = list.filter((p) => p.type === 'app');
    expect(a.size).toBe(b.size);
  });
});
