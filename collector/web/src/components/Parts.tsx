// Non-text content parts: inline images from data: URLs (thumbnail, click to enlarge), remote images as a
// link that is only followed on click (opening a page never contacts a third party), playable audio and named
// files with their size. Audio plays through Web Audio from decoded bytes, so the CSP needs no media source.
import { useEffect, useRef, useState } from 'react';
import { base64Bytes, type Part } from '../messages';
import { fmtBytes } from '../format';

const RASTER = /^data:(image\/(?:png|jpe?g|gif|webp|avif|bmp));base64,/i;
const B64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function Lightbox({ url, alt, onClose }: { url: string; alt: string; onClose: () => void }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="lightbox" role="dialog" aria-label="image" data-testid="lightbox" onClick={onClose}>
      <img src={url} alt={alt} />
    </div>
  );
}

export function ImagePart({ url, alt = 'image', detail }: { url: string; alt?: string; detail?: string }) {
  const [open, setOpen] = useState(false);
  const [broken, setBroken] = useState(false);
  const m = RASTER.exec(url);
  if (m) {
    const b64 = url.slice(m[0].length);
    const size = fmtBytes(base64Bytes(b64));
    if (broken || !B64.test(b64) || b64.trim() === '') {
      return (
        <span className="part part-bad" data-testid="image-broken">
          [image {m[1]}, {size}: the data does not decode]
        </span>
      );
    }
    return (
      <span className="part part-image" data-testid="image-part">
        <img
          className="thumb"
          src={url}
          alt={alt}
          title={`${m[1]} · ${size}${detail ? ` · detail ${detail}` : ''} · click to enlarge`}
          onClick={() => setOpen(true)}
          onError={() => setBroken(true)}
        />
        {open && <Lightbox url={url} alt={alt} onClose={() => setOpen(false)} />}
      </span>
    );
  }
  if (/^https?:\/\//i.test(url.trim())) {
    return (
      <span className="part part-remote" data-testid="image-remote">
        <span className="tag">image</span>{' '}
        <a href={url.trim()} target="_blank" rel="noopener noreferrer nofollow" title="Opens the remote image in a new tab">
          {url.length > 120 ? `${url.slice(0, 117)}…` : url}
        </a>
      </span>
    );
  }
  // javascript:, svg data, file ids, anything else: shown, never loaded.
  return (
    <span className="part part-bad" data-testid="image-inert">
      [image {url.length > 120 ? `${url.slice(0, 117)}…` : url}]
    </span>
  );
}

function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64.replace(/\s+/g, ''));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function AudioPart({ data, format, transcript }: { data: string; format: string; transcript?: string }) {
  const [state, setState] = useState<'idle' | 'decoding' | 'playing' | 'error'>('idle');
  const [info, setInfo] = useState('');
  const ctx = useRef<AudioContext | null>(null);
  const src = useRef<AudioBufferSourceNode | null>(null);
  useEffect(() => () => void ctx.current?.close().catch(() => {}), []);

  async function play() {
    if (state === 'playing') {
      src.current?.stop();
      return;
    }
    setState('decoding');
    try {
      const bytes = decodeBase64(data);
      ctx.current ??= new AudioContext();
      const ac = ctx.current;
      let buffer: AudioBuffer;
      if (/^pcm16$/i.test(format)) {
        // Raw 16-bit little-endian mono at 24 kHz (OpenAI realtime's pcm16).
        const n = Math.floor(bytes.length / 2);
        buffer = ac.createBuffer(1, Math.max(1, n), 24000);
        const ch = buffer.getChannelData(0);
        const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
        for (let i = 0; i < n; i++) ch[i] = view.getInt16(i * 2, true) / 32768;
      } else {
        buffer = await ac.decodeAudioData(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      }
      setInfo(`${buffer.duration.toFixed(2)} s`);
      const node = ac.createBufferSource();
      node.buffer = buffer;
      node.connect(ac.destination);
      node.onended = () => setState('idle');
      src.current = node;
      node.start();
      setState('playing');
    } catch (e) {
      setState('error');
      setInfo(`cannot play: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return (
    <span className="part part-audio" data-testid="audio-part" data-state={state}>
      <button type="button" className="btn btn-small" onClick={() => void play()} disabled={state === 'decoding' || !data}>
        {state === 'playing' ? '■ stop' : '▶ play'}
      </button>{' '}
      <span className="muted small">
        audio · {format} · {fmtBytes(base64Bytes(data))}
        {info && ` · ${info}`}
      </span>
      {transcript && <span className="small"> “{transcript}”</span>}
    </span>
  );
}

export function FilePart({ name, mime, bytes, fileId }: { name: string; mime?: string; bytes?: number; fileId?: string }) {
  return (
    <span className="part part-file" data-testid="file-part">
      <span className="tag">file</span> <span className="mono">{name}</span>
      {mime && <span className="muted small"> · {mime}</span>}
      {bytes !== undefined && <span className="muted small"> · {fmtBytes(bytes)}</span>}
      {fileId && fileId !== name && <span className="muted small mono"> · {fileId}</span>}
    </span>
  );
}

export function PartView({ part }: { part: Part }) {
  switch (part.kind) {
    case 'image':
      return <ImagePart url={part.url} detail={part.detail} />;
    case 'audio':
      return <AudioPart data={part.data} format={part.format} transcript={part.transcript} />;
    case 'file':
      return <FilePart name={part.name} mime={part.mime} bytes={part.bytes} fileId={part.fileId} />;
    default:
      return null;
  }
}
