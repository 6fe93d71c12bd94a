/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFiles: ['<rootDir>/test/support/quiet-sdk.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 180000,
  // The Temporal SDK's native runtime keeps threads alive after the last worker stops.
  forceExit: true,
  transform: { '^.+\\.ts$': 'ts-jest', '/node_modules/.+\\.m?js$': '<rootDir>/test/support/esm-transform.js' },
  // ES-module-only dependencies (of @kubernetes/client-node), made CommonJS by the transform above
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose|jsonpath-plus|rfc4648)/)'],
};
