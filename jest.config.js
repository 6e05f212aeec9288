/** Jest runs the TypeScript sources directly; `npm test` type-checks first. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
  },
  testTimeout: 30000,
  modulePathIgnorePatterns: ['<rootDir>/dist'],
};
