import { hubBuildState } from '../../src/core/docker-hub';

describe('hubBuildState', () => {
  test.each([
    [10, 'passing'],
    [-1, 'failing'],
    [-4, 'cancelled'],
    [3, 'in-progress'],
    [42, 'unknown'],
  ])('status %d is %s', (status, expected) => {
    expect(hubBuildState(status)).toBe(expected);
  });
});
