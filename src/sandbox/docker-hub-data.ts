/**
 * Images of the Docker Hub simulator, read from `sandbox/docker-hub/images/<namespace>/<name>.json`.
 * Each file contains the repository object, the tag objects and, for images with
 * legacy automated builds, the build history, all in Docker Hub's response shapes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const jsonObject = z.record(z.unknown());

const imageFileSchema = z.object({
  /** Marks a private image, which gets 404 for every request, as on Docker Hub for anonymous clients. */
  private: z.boolean().optional(),
  repository: jsonObject,
  tags: z.array(jsonObject.and(z.object({ name: z.string() }))),
  buildhistory: z.array(jsonObject).optional(),
});

export interface HubImage {
  namespace: string;
  name: string;
  isPrivate: boolean;
  repository: Record<string, unknown>;
  tags: Array<Record<string, unknown> & { name: string }>;
  /** Legacy automated builds, newest first; undefined when Docker Hub keeps none (404). */
  buildHistory: Array<Record<string, unknown>> | undefined;
}

/** Bounds the directory walk; the sandbox has a few dozen images. */
const MAX_IMAGE_FILES = 1000;

/**
 * Reads every image file under `imagesDir`.
 *
 * @throws Error naming the file when one is not valid JSON of the expected shape.
 */
export function loadHubImages(imagesDir: string): Map<string, HubImage> {
  const images = new Map<string, HubImage>();
  for (const namespace of listDirectory(imagesDir)) {
    const namespaceDir = path.join(imagesDir, namespace);
    if (!fs.statSync(namespaceDir).isDirectory()) {
      continue;
    }
    for (const fileName of listDirectory(namespaceDir)) {
      if (!fileName.endsWith('.json')) {
        continue;
      }
      if (images.size >= MAX_IMAGE_FILES) {
        throw new Error(`Too many image files under ${imagesDir}: the limit is ${MAX_IMAGE_FILES}`);
      }
      const image = readImageFile(path.join(namespaceDir, fileName), namespace, fileName.slice(0, -'.json'.length));
      images.set(imageKey(image.namespace, image.name), image);
    }
  }
  return images;
}

export function imageKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function readImageFile(file: string, namespace: string, name: string): HubImage {
  let parsed: z.infer<typeof imageFileSchema>;
  try {
    parsed = imageFileSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (error) {
    throw new Error(`Invalid Docker Hub image file ${file}: ${(error as Error).message}`);
  }
  const declared = `${String(parsed.repository.namespace)}/${String(parsed.repository.name)}`;
  if (declared !== imageKey(namespace, name)) {
    throw new Error(`Invalid Docker Hub image file ${file}: it declares ${declared}, expected ${namespace}/${name}`);
  }
  return {
    namespace,
    name,
    isPrivate: parsed.private ?? false,
    repository: parsed.repository,
    tags: parsed.tags,
    buildHistory: parsed.buildhistory,
  };
}

function listDirectory(directory: string): string[] {
  return fs.readdirSync(directory).sort();
}
