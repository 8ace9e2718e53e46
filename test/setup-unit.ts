// The unit project runs without services: helpers that would reach MariaDB, Redis or spawn a process
// refuse (see test/helpers/services.ts), so a unit test that needs them fails loudly instead of slowly.
process.env.WWP_TEST_PROJECT = 'unit';
