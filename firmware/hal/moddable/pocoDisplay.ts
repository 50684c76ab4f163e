/**
 * The Display on a screen, drawn with Poco (Moddable's Commodetto renderer): the simulator's
 * (240 x 320 on moddable_two) and a board's with a display driver. The title sits on a dark band,
 * each body line below it in a font readable at arm's length; a line wider than the screen wraps
 * after a space or an underscore (error codes are long), and a word still too wide ends in an
 * ellipsis. What is shown also goes to the console as one line, as the trace display
 * would print it, since a screen can be out of sight (and the core never puts a PIN digit on it).
 *
 * Poco keeps its pixel and display-list buffers outside the JavaScript heap, and the fonts are
 * resources in flash: the screen costs the heap one renderer object.
 */
import type PixelsOut from 'commodetto/PixelsOut';
import Poco from 'commodetto/Poco';
import parseBMF from 'commodetto/parseBMF';
import Resource from 'Resource';
import type { Display, Screen } from '../display';

/** manifest.json "resources": mcconfig turns each font into a .bf4 resource. */
const TITLE_FONT = 'OpenSans-Semibold-20.bf4';
const BODY_FONT = 'OpenSans-Regular-20.bf4';
const MARGIN = 8;
const LINE_GAP = 8;

/** The screen the platform set up (`globalThis.screen`), or undefined on a board without one. */
export function platformScreen(): PixelsOut | undefined {
  return (globalThis as { screen?: PixelsOut }).screen;
}

/** `columns` is the line length the core writes for (config displayColumns); rows are what fits. */
export function createPocoDisplay(screen: PixelsOut, columns: number): Display {
  const poco = new Poco(screen);
  const titleFont = parseBMF(new Resource(TITLE_FONT));
  const bodyFont = parseBMF(new Resource(BODY_FONT));
  const band = poco.makeColor(0x1f, 0x3a, 0x5f);
  const white = poco.makeColor(0xff, 0xff, 0xff);
  const ink = poco.makeColor(0x10, 0x10, 0x10);
  const titleHeight = titleFont.height + 2 * MARGIN;
  const lineHeight = bodyFont.height + LINE_GAP;
  const rows = 1 + Math.floor((poco.height - titleHeight - MARGIN) / lineHeight);
  const width = poco.width - 2 * MARGIN;

  return {
    columns,
    rows,
    show(screen: Screen) {
      const lines: string[] = [];
      for (const line of screen.lines) lines.push(...wrap(line, (text) => poco.getTextWidth(text, bodyFont) <= width));
      lines.length = Math.min(lines.length, rows - 1);
      poco.begin();
      poco.fillRectangle(white, 0, 0, poco.width, poco.height);
      poco.fillRectangle(band, 0, 0, poco.width, titleHeight);
      poco.drawText(screen.title, titleFont, white, MARGIN, MARGIN, width);
      let y = titleHeight + MARGIN;
      for (const line of lines) {
        poco.drawText(line, bodyFont, ink, MARGIN, y, width);
        y += lineHeight;
      }
      poco.end();
      trace(`display: ${[screen.title, ...lines].join(' | ')}\n`);
    },
  };
}

/** `line` in pieces that fit, broken after spaces and underscores; a piece that cannot be broken stays whole. */
function wrap(line: string, fits: (text: string) => boolean): string[] {
  const pieces: string[] = [];
  let current = '';
  for (const word of line.match(/[^ _]+[ _]*|[ _]+/g) ?? []) {
    if (current !== '' && !fits((current + word).trimEnd())) {
      pieces.push(current.trimEnd());
      current = '';
    }
    current += word;
  }
  if (current !== '' || pieces.length === 0) pieces.push(current.trimEnd());
  return pieces;
}
