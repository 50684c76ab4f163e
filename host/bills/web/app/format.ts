/** How amounts, numbers, card numbers and times read on the phone. */

/** 12345 CNY -> "CN¥123.45": the currency's own number of minor digits (ISO 4217). */
export function formatAmount(amountMinor: number, currency: string): string {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(amountMinor / 10 ** digits);
}

/** "+8613800138000" -> "+86 138 0013 8000" (mainland numbers grouped 3-4-4). */
export function formatMobile(e164: string): string {
  const mainland = /^\+86(1\d{2})(\d{4})(\d{4})$/.exec(e164);
  return mainland ? `+86 ${mainland[1]} ${mainland[2]} ${mainland[3]}` : e164;
}

/** What is left before `expiresAt`: "4:05", "1:02:09", or "" once it has passed. */
export function formatRemaining(expiresAt: Date, now: Date): string {
  // Rounded up: "0:01 left" until the very moment of expiry, "" from then on.
  const seconds = Math.ceil((expiresAt.getTime() - now.getTime()) / 1000);
  if (seconds <= 0) return '';
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}
