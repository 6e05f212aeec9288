/**
 * Runs parseConfigFile over real `.docker-repository.yml` files from public
 * repositories, including earlier revisions (the `hist-` files), stored byte for byte.
 */
import { readdirSync, readFileSync } from 'fs';
import path from 'path';
import { parseConfigFile } from '../../src/core/config-file';

const SAMPLE_DIR = path.join(__dirname, '..', 'fixtures', 'docker-repository-yml');

type Expectation =
  /** The image the file names, as namespace/name, or null when the default applies. */
  | { image: string | null; lowerCaseNote?: true }
  | { problemContains: string };

const EXPECTED: Record<string, Expectation> = {
  '001.yml': { image: 'rwgrim/docker-bubbleupnpserver' },
  '002.yml': { image: 'daithi10101/conformance-suite', lowerCaseNote: true },
  '003.yml': { image: 'kleinstein/immcantation' },
  '004.yml': { image: 'konradboniecki/budget' },
  '005.yml': { image: 'openbanking/conformance-suite' },
  '006.yml': { image: 'atlassian/bitbucket-server' },
  '007.yml': { image: 'hiperium/hiperium-device' },
  '008.yml': { image: 'hiperium/hiperium-identity' },
  '009.yml': { image: 'hiperium/hiperium-logging' },
  '010.yml': { image: 'hiperium/hiperium-messaging' },
  '011.yml': { image: 'mikemanger/python27-mysql' },
  '012.yml': { image: 'cwt114/alpine-bash' },
  '013.yml': { image: 'bashell/alpine-elasticsearch' },
  '014.yml': { image: 'bashell/alpine-rmq' },
  '015.yml': { image: 'bashell/k8s' },
  '016.yml': { image: 'codechimpio/vips-alpine' },
  '017.yml': { image: 'bashell/wormhole' },
  '018.yml': { image: 'rwgrim/package_cloud' },
  '019.yml': { image: 'madwebsolutions/bitbucket-pipelines-php72' },
  '020.yml': { image: 'austinchou0126/sniproxy' },
  '021.yml': { image: 'interactar/geodocker' },
  '022.yml': { image: 'gbraad/gauth' },
  '023.yml': { image: 'responsive/backbone-marionette-webpack-express' },
  '024.yml': { image: 'webgpu/ece404project' },
  '025.yml': { image: 'immcantation/suite' },
  '026.yml': { image: 'osallou/bioshadock' },
  '027.yml': { image: 'nowherecloud/ruby-dns' },
  '028.yml': { image: 'splservices/addonbuildimage' },
  '029.yml': { image: 'nowherecloud/node-mongo-syslog' },
  '030.yml': { problemContains: 'Git LFS' },
  '031.yml': { image: 'phenompeople/centos-tomcat' },
  '032.yml': { image: 'phenompeople/centos-sunjdk' },
  '033.yml': { image: 'prwhitehead/vips-builder' },
  '034.yml': { image: 'prwhitehead/vips-alpine' },
  '035.yml': { image: 'rpy2/rpy2' },
  '036.yml': { image: 'markadams/guestbook' },
  '037.yml': { image: 'webgpu/ece408project' },
  '038.yml': { image: 'stpork/bamboo' },
  '039.yml': { image: 'stpork/bamboo-agent' },
  '040.yml': { image: 'stpork/bamboo-centos-base' },
  '041.yml': { image: 'stpork/tini-centos' },
  '042.yml': { image: 'timcera/qgis-desktop' },
  '043.yml': { image: 'svva/felix' },
  '044.yml': { image: 'dchevell/jira-software' },
  '045.yml': { image: 'umigliore/laraimage' },
  '046.yml': { image: 'library/fenicsproject' },
  '047.yml': { image: 'winsent/geoserver-alpine' },
  '048.yml': { image: 'winsent/geoserver' },
  'hist-002-4b171cc0f2.yml': { image: 'openbanking/conformance-suite' },
  'hist-002-eba8498093.yml': { image: null },
  'hist-005-eba8498093.yml': { image: null },
  'hist-012-42d6a7aa4f.yml': { image: 'bashell/alpine-bash' },
  'hist-012-f4d49ab922.yml': { image: 'cwt114/alpine-bash' },
  'hist-014-d63bd8ec90.yml': { image: 'cwt114/alpine-rmq' },
  'hist-019-f0877fd995.yml': { image: null },
  'hist-020-307fdd58c2.yml': { image: 'evianzhow/sniproxy' },
  'hist-020-5d35bc11ae.yml': { image: 'vrtsystems/sniproxy' },
  'hist-024-07fad3482c.yml': { image: 'webgpu/ece404project' },
  'hist-024-71db0095cd.yml': { image: 'webgpu/ece408project' },
  'hist-025-a1d4085064.yml': { image: 'kleinstein/immcantation' },
  'hist-034-b0c02fe55f.yml': { image: 'codechimpio/vips-alpine' },
  'hist-035-ca0f153c8b.yml': { image: null },
  'hist-038-681816a233.yml': { image: 'stpork/bamboo-centos' },
  'hist-039-1bccf23d79.yml': { image: 'stpork/bamboo-agent-centos' },
  'hist-040-78ad63ddc3.yml': { image: 'stpork/bamboo-centos' },
  'hist-042-66e08c8c5f.yml': { image: null },
  'hist-042-b55fe18dd4.yml': { image: 'timcera/qgis-desktop-debian' },
};

function toImageRef(reference: string) {
  const [namespace, name] = reference.split('/');
  return { namespace, name };
}

describe('parseConfigFile real samples', () => {
  test('table lists every sample file', () => {
    const files = readdirSync(SAMPLE_DIR).sort();

    expect(files).toEqual(Object.keys(EXPECTED).sort());
  });

  test.each(Object.entries(EXPECTED))('%s gives the expected result', (file, expected) => {
    const result = parseConfigFile(readFileSync(path.join(SAMPLE_DIR, file)));

    if ('problemContains' in expected) {
      expect(result.kind).toBe('invalid');
      expect(result.kind === 'invalid' ? result.problem : '').toContain(expected.problemContains);
      return;
    }
    expect(result.kind).toBe('valid');
    if (result.kind !== 'valid') {
      return;
    }
    if (expected.image === null) {
      expect(result.image).toBeUndefined();
    } else {
      expect(result.image).toEqual(toImageRef(expected.image));
    }
    if (expected.lowerCaseNote) {
      expect(result.notes).toHaveLength(1);
      expect(result.notes[0].message).toContain('lower case');
    } else {
      expect(result.notes).toEqual([]);
    }
  });
});
