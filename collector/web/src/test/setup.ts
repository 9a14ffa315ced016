import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());

// findBy*/waitFor poll until this long: under load a render can take a while.
configure({ asyncUtilTimeout: 5000 });
